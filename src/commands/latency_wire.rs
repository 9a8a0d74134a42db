//! `scalpel latency --path wire`: wire-to-wire latency of the live engine
//! against the simulator over loopback TLS, and in the same run the
//! loopback floor it is read against.
//!
//! 1. **The session** ([`super::live_session`], the code `scalpel demo`
//!    runs): the simulator in process (synthetic session, or `--input`
//!    replayed at its own pace), the live engine trading against it over
//!    real TLS and WebSockets for `--duration`, with the wire profile
//!    (`tuning/latency-wire.toml`: the latency profile made to fire live,
//!    see its header; or `--config`).
//! 2. **Wire-to-wire** ([`super::demo::order_timing`], the demo's pairing):
//!    for every order the core placed in reaction to a market frame (the
//!    flight recording says which frame), the simulator's stamp as it
//!    started writing that frame to the engine's connection → its stamp as
//!    it read the order request off the wire ([`crate::sim::stamps`]: both
//!    `CLOCK_REALTIME`, one process). It includes the simulator's own TLS
//!    encryption and decryption and its task wake-ups on both ends, the
//!    engine's poll wait, decrypt, decode, core, encode, sign, encrypt.
//! 3. **The floor** ([`crate::latency::floor`]), after the session (so the
//!    two never compete for the CPUs): a TCP ping-pong on 127.0.0.1 with the
//!    session's median market frame size one way and median order request
//!    size back: busy-poll plain, busy-poll TLS, and blocking.
//!
//! Output as the other paths: a per-stage table, `.hgrm` files, the SVG
//! plot, the machine in the header, one JSON object as the last line.
//!
//! # Errors
//! A session with no wire-to-wire sample fails ([`LatencyError::Wire`]):
//! a figure of nothing is not reported.

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use super::demo::{DemoOptions, order_timing};
use super::latency::{LatencyError, LatencyOptions, LatencyPath};
use super::live_session::{self, ProfileDefault};
use crate::engine::Counter;
use crate::engine::recorder::Manifest;
use crate::host::{HostSource, Machine};
use crate::instrument::Symbol;
use crate::latency::floor::{self, FloorConfig, FloorKind};
use crate::latency::plot;
use crate::latency::report::{self, JsonLine, StageHistograms};
use crate::recording::Recording;
use crate::venue::Venue;
use crate::venue::infer::Survey;

/// Default trading time of `--path wire`, s.
pub const DEFAULT_DURATION_S: f64 = 60.0;

/// Timed floor rounds per variant (each variant also stops after
/// [`FLOOR_MAX_SECS`]).
pub const FLOOR_ROUNDS: u32 = 20_000;

/// Longest a floor variant's timed rounds run, s.
pub const FLOOR_MAX_SECS: f64 = 5.0;

/// The wire profile shipped in the repository (`tuning/latency-wire.toml`).
pub const BUILT_IN_PROFILE: &str = include_str!("../../tuning/latency-wire.toml");

/// The wire path's default profile: the latency profile made for a live
/// session (`tuning/latency-wire.toml`: short entry timeout, short windows).
pub const WIRE_PROFILE: ProfileDefault = ProfileDefault {
    name: "latency",
    local: "tuning/latency-wire.toml",
    text: BUILT_IN_PROFILE,
    file_name: "latency-wire.toml",
};

/// Stage names, in table order.
pub const STAGES: [&str; 5] = ["wire_to_wire", "engine_tick_to_trade", "floor_plain", "floor_tls", "floor_blocking"];

/// The median of `v` (0 when empty).
fn median(v: &mut [usize]) -> usize {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Sizes of the market frames the engine received (its flight recording's
/// market files: the frame text, WebSocket framing and TLS not counted).
fn market_frame_sizes(flight: &Path, manifest: &Manifest) -> io::Result<Vec<usize>> {
    let mut sizes = Vec::new();
    for f in manifest.files.iter().filter(|f| f.feed.is_some()) {
        let reader = BufReader::new(std::fs::File::open(flight.join(&f.name))?);
        for line in reader.split(b'\n') {
            let line = line?;
            if let Some(space) = line.iter().position(|&b| b == b' ') {
                sizes.push(line.len() - space - 1);
            }
        }
    }
    Ok(sizes)
}

/// Frames of `--input` read to tell its venue and symbol.
const SURVEY_FRAMES: usize = 20_000;

/// The venue and the (first) depth symbol of a recording, from its first
/// frames; `--venue`, when given, must agree.
fn recording_market(path: &Path, given: Option<Venue>) -> Result<(Venue, Symbol), LatencyError> {
    let rec = Recording::load(path)?;
    let mut survey = Survey::new();
    for (_, frame) in rec.iter().take(SURVEY_FRAMES) {
        survey.observe(frame);
    }
    let venue = survey.venue().ok_or_else(|| LatencyError::UnknownVenue(path.to_path_buf()))?;
    if let Some(g) = given.filter(|g| *g != venue) {
        return Err(LatencyError::Wire(format!("--venue {g}, but {} reads as {venue}", path.display())));
    }
    let symbol = survey.depth_symbols(venue).next().ok_or_else(|| {
        LatencyError::Wire(format!(
            "{}: no depth frames in its first {SURVEY_FRAMES} frames (the engine needs a book)",
            path.display()
        ))
    })?;
    Ok((venue, symbol))
}

/// The demo's options for a wire run (`market`: the recording's venue and
/// symbol with `--input`).
fn session_options(opts: &LatencyOptions, market: Option<(Venue, Symbol)>) -> DemoOptions {
    let defaults = DemoOptions::default();
    DemoOptions {
        venue: market.map(|m| m.0).or(opts.venue).unwrap_or(Venue::BinanceUsdm),
        symbol: market.map_or(defaults.symbol, |m| m.1),
        duration_s: opts.duration_s.unwrap_or(DEFAULT_DURATION_S),
        input: opts.input.clone(),
        synth_seed: opts.synth_seed.unwrap_or(defaults.synth_seed),
        config: opts.config.clone(),
        pin: opts.pin,
        busy_poll: opts.busy_poll,
        status_secs: 10.0,
        ..defaults
    }
}

/// Runs the wire path (module docs) and prints its report, the JSON line
/// last; progress goes to `err`.
///
/// # Errors
/// [`LatencyError`].
pub fn run(opts: &LatencyOptions, out: &mut impl Write, err: &mut dyn Write) -> Result<String, LatencyError> {
    let market = match &opts.input {
        Some(path) => Some(recording_market(path, opts.venue)?),
        None => None,
    };
    let dopts = session_options(opts, market);
    let session = live_session::start(&dopts, &WIRE_PROFILE, opts.hooks, err).map_err(wire)?;
    let fin = session.trade(&dopts, err).map_err(wire)?;
    let about = &fin.about;
    writeln!(err, "latency: session stopped; pairing the stamps, then the loopback floor")?;
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(about.flight.join("manifest.json"))?)
        .map_err(|e| io::Error::other(format!("manifest.json: {e}")))?;
    let timing = order_timing(&about.flight, &manifest, &fin.frames, &fin.orders, &fin.published).map_err(wire)?;
    if timing.paired == 0 {
        return Err(LatencyError::Wire(format!(
            "no wire-to-wire sample: the engine sent {} orders, {} of them not caused by a market frame or not stamped (session files: {})",
            fin.engine.hot.stats.get(Counter::OrdersSent),
            timing.unpaired,
            about.dir.display()
        )));
    }
    let market_bytes = median(&mut market_frame_sizes(&about.flight, &manifest)?);
    let order_bytes = median(&mut fin.orders.iter().map(|o| o.bytes as usize).collect::<Vec<_>>());

    // The floor, with the session's message sizes.
    let fc = FloorConfig { market_bytes, order_bytes, warmup: 1000, rounds: FLOOR_ROUNDS, max_secs: FLOOR_MAX_SECS };
    let mut h = StageHistograms::new(STAGES.iter().map(|s| (*s).to_owned()).collect());
    h.add(0, &timing.w2w);
    if let Some(t2t) = fin.engine.latency.get(crate::journal::Stage::TickToTrade) {
        h.add(1, t2t);
    }
    let mut floor_rounds = [0u64; 3];
    for (k, kind) in FloorKind::ALL.into_iter().enumerate() {
        writeln!(err, "latency: loopback floor, {} ({market_bytes} B out, {order_bytes} B back)", kind.name())?;
        let r = floor::measure(kind, fc).map_err(|e| LatencyError::Wire(e.to_string()))?;
        floor_rounds[k] = r.rounds;
        h.add(2 + k, &r.one_way);
    }

    let machine = Machine::read(&HostSource::live(), opts.pin);
    let load = load_average();
    let venue = dopts.venue;
    let stats = h.stats();
    let get = |name: &str| stats.iter().find(|s| s.name == name);
    let s = &fin.engine.hot.stats;
    writeln!(
        out,
        "{venue}: wire-to-wire over loopback TLS, the simulator's market frame write -> its read of the order the engine sent in reaction, {} s of trading; and the loopback floor",
        dopts.duration_s
    )?;
    writeln!(out, "input: {}", about.input_label)?;
    writeln!(out, "profile: {}", about.profile_label)?;
    writeln!(out, "machine: {}; load average {load}; engine: {}", machine.summary(), about.pinning)?;
    writeln!(
        out,
        "orders: {} sent, {} with a wire-to-wire sample, {} not caused by a market frame or not stamped; stamps dropped by the simulator: {} frames, {} orders",
        s.get(Counter::OrdersSent),
        timing.paired,
        timing.unpaired,
        fin.sim.stamps.frames_dropped,
        fin.sim.stamps.orders_dropped
    )?;
    writeln!(out, "gates: {}", fin.engine.hot.gates)?;
    writeln!(
        out,
        "floor: TCP ping-pong on 127.0.0.1, {market_bytes} B (median market frame) out, {order_bytes} B (median order request) back, one-way = round trip / 2; rounds: plain {}, TLS {}, blocking {} (floor threads not pinned)",
        floor_rounds[0], floor_rounds[1], floor_rounds[2]
    )?;
    writeln!(
        out,
        "per stage (wire_to_wire: simulator's clock; engine_tick_to_trade: the engine's frame read -> order written, for context; floor_*: one way):"
    )?;
    report::write_table(out, "stage", &stats)?;
    let p50 = |name: &str| get(name).map(|s| s.p50);
    let floors: Vec<(&str, u64)> =
        STAGES[2..].iter().filter_map(|n| p50(n).map(|p| (n.trim_start_matches("floor_"), p))).collect();
    let lowest = floors.iter().min_by_key(|f| f.1).copied();
    if let Some(w) = p50("wire_to_wire") {
        let vs: Vec<String> = floors
            .iter()
            .map(|(n, f)| {
                format!("{n} {:+.1} µs ({:.1}x)", (w as f64 - *f as f64) / 1000.0, w as f64 / (*f).max(1) as f64)
            })
            .collect();
        writeln!(
            out,
            "wire-to-wire p50 against each floor's p50: {} (budget: within 2 µs of the floor)",
            vs.join(", ")
        )?;
    }
    // Spinning threads that had a CPU each beat (or match) the kernel's
    // wake-up; twice the blocking figure means they waited for time slices.
    let busy = floors.iter().filter(|f| f.0 != "blocking").map(|f| f.1).min();
    let starved = matches!((busy, p50("floor_blocking")), (Some(b), Some(k)) if b > 2 * k);
    if let (true, Some(cpus)) = (starved, std::thread::available_parallelism().ok()) {
        writeln!(
            out,
            "the busy-poll floors are more than twice the blocking one: their two spinning threads did not each have a CPU to themselves ({cpus} CPUs, load average {load}); here the blocking floor is the lower bound"
        )?;
    }
    if let Some(dir) = &opts.hgrm_dir {
        let written = report::write_hgrm_files(dir, &format!("{venue}-wire"), &h)?;
        writeln!(out, "wrote {} .hgrm files to {}", written.len(), dir.display())?;
    }
    if let Some(path) = &opts.plot {
        let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = h.non_empty().collect();
        plot::write_percentile_svg(path, &format!("scalpel latency --path wire, {venue}, loopback TLS"), &series)?;
        writeln!(out, "wrote the percentile plot to {}", path.display())?;
    }
    writeln!(out, "session files: {}", about.dir.display())?;

    let mut json = JsonLine::new();
    json.str("path", LatencyPath::Wire.name()).str("venue", venue.name());
    json.f64("duration_s", dopts.duration_s, 1);
    for (prefix, name) in [
        ("wire_to_wire", "wire_to_wire"),
        ("loopback_floor", "floor_plain"),
        ("loopback_floor_tls", "floor_tls"),
        ("loopback_floor_blocking", "floor_blocking"),
        ("engine_tick_to_trade", "engine_tick_to_trade"),
    ] {
        let s = get(name);
        json.opt_u64(&format!("{prefix}_p50_ns"), s.map(|s| s.p50));
        json.opt_u64(&format!("{prefix}_p99_ns"), s.map(|s| s.p99));
        json.opt_u64(&format!("{prefix}_p999_ns"), s.map(|s| s.p999));
    }
    for s in &stats {
        json.raw(&s.name, &s.json_object());
    }
    json.opt_u64("loopback_floor_lowest_p50_ns", lowest.map(|f| f.1));
    json.str("load_average", &load);
    json.u64("wire_to_wire_samples", timing.paired).u64("wire_to_wire_unpaired", timing.unpaired);
    json.u64("floor_plain_rounds", floor_rounds[0]).u64("floor_tls_rounds", floor_rounds[1]);
    json.u64("floor_blocking_rounds", floor_rounds[2]);
    json.u64("market_frame_bytes", market_bytes as u64).u64("order_request_bytes", order_bytes as u64);
    json.u64("orders_sent", s.get(Counter::OrdersSent)).u64("fills", s.get(Counter::Fills));
    json.u64("lost_orders", fin.engine.hot.lost.len() as u64);
    json.u64("hot_allocations", s.get(Counter::HotAllocations));
    json.u64("stamps_dropped", fin.sim.stamps.frames_dropped + fin.sim.stamps.orders_dropped);
    json.str("profile", &about.profile_label).str("engine", &about.pinning);
    json.opt_u64("pinned_cpu", opts.pin.map(|c| c as u64));
    json.raw("machine", &machine.json());
    let line = json.finish();
    writeln!(out, "{line}")?;
    Ok(line)
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn wire(e: super::demo::DemoError) -> LatencyError {
    LatencyError::Wire(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_sizes() {
        assert_eq!(median(&mut []), 0);
        assert_eq!(median(&mut [5]), 5);
        assert_eq!(median(&mut [9, 1, 5]), 5);
        assert_eq!(median(&mut [4, 1, 3, 2]), 3);
    }

    #[test]
    fn the_session_takes_the_wire_options_and_the_demos_defaults() {
        let opts = LatencyOptions {
            duration_s: Some(7.0),
            pin: Some(1),
            busy_poll: Some(true),
            ..LatencyOptions::new(LatencyPath::Wire)
        };
        let d = session_options(&opts, None);
        assert_eq!((d.venue, d.duration_s, d.pin, d.busy_poll), (Venue::BinanceUsdm, 7.0, Some(1), Some(true)));
        assert_eq!((d.synth_seed, d.symbol), (DemoOptions::default().synth_seed, DemoOptions::default().symbol));
        assert!(d.faults.is_none() && d.dir.is_none() && d.config.is_none());
        let eth = Symbol::new(b"ETHUSDT").unwrap();
        let d = session_options(&LatencyOptions::new(LatencyPath::Wire), Some((Venue::BybitLinear, eth)));
        assert_eq!((d.venue, d.symbol, d.duration_s), (Venue::BybitLinear, eth, DEFAULT_DURATION_S));
    }

    #[test]
    fn a_recordings_venue_and_symbol_are_read_from_its_frames() {
        let dir = std::env::temp_dir().join(format!("scalpel-wire-survey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rec.txt");
        std::fs::write(
            &path,
            concat!(
                r#"1723161240000000000 {"topic":"orderbook.50.ETHUSDT","type":"snapshot","ts":1723161240000,"data":{"s":"ETHUSDT","b":[["2500.10","1.5"]],"a":[["2500.20","2.0"]],"u":1,"seq":10},"cts":1723161239999}"#,
                "\n"
            ),
        )
        .unwrap();
        let eth = Symbol::new(b"ETHUSDT").unwrap();
        assert_eq!(recording_market(&path, None).unwrap(), (Venue::BybitLinear, eth));
        assert_eq!(recording_market(&path, Some(Venue::BybitLinear)).unwrap().0, Venue::BybitLinear);
        let err = recording_market(&path, Some(Venue::BinanceUsdm)).unwrap_err();
        assert!(err.to_string().contains("reads as bybit-linear"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
