//! Every signal, at every event of the real recordings, equals a plain
//! batch recomputation written separately here.
//!
//! The incremental side runs the production path: recorded frames through
//! the trading core (`Core::on_frame`: decoder, book sync, the tape's one
//! de-duplication rule, and the one signal router). An observing probe
//! collects the event stream the signals folded in into plain vectors: for
//! every published book its top K levels (read from the book with
//! `Book::top`), every new trade, funding update and liquidation, and the
//! snapshot the signals gave after it.
//!
//! The batch side then recomputes each signal at each event *from scratch*
//! over its window with simple loops — no rings, no running sums, no
//! prefix sums, no recursion: windows are re-selected by their definition
//! (bucket or slot arithmetic on the clock), sums re-added, variances
//! computed two-pass in `f64`, filters as explicit kernel sums over the
//! whole history, grid samples re-derived from the book list, the regime
//! and cascade state machines re-run on the recomputed inputs. Values must
//! agree to a relative 1e-9 (of the magnitude of the terms, for the
//! quantities that are differences of near-equal terms), and exactly for
//! integer quantities (volumes, CVD, counts, times, regimes, sides).
//!
//! The recordings carry no liquidation stream, so liquidation frames are
//! synthesised in each venue's exact wire format from the recording's own
//! large trades (Binance `forceOrder`, Bybit `allLiquidation`), inserted
//! after the trade they copy, and decoded by the real decoders. That is
//! stated in the output; every other input is real.

mod common;

use std::sync::Arc;

use scalpel::core::{BindMode, Core, Intents, Observation, Probe, RiskLink};
use scalpel::instrument::{InstrumentId, Symbol};
use scalpel::order::SessionEpoch;
use scalpel::profile::Profile;
use scalpel::risk::VerdictCell;
use scalpel::side::Side;
use scalpel::signal::{LiveSignals, Regime, SignalConfig, SignalSnapshot, warm};
use scalpel::venue::Venue;

#[derive(Clone, Debug)]
enum Ev {
    /// A published two-sided book: top K levels, and whether it follows a
    /// loss of continuity (first book, snapshot, gap).
    Book {
        ts: i64,
        bids: Vec<(i64, i64)>,
        asks: Vec<(i64, i64)>,
        baseline: bool,
    },
    /// A published book with an empty side.
    OneSided {
        ts: i64,
    },
    Trade {
        ts: i64,
        price: i64,
        qty: i64,
        buy: bool,
    },
    Funding {
        ts: i64,
        rate: i64,
        next: i64,
    },
    Liquidation {
        ts: i64,
        long: bool,
        price: i64,
        qty: i64,
    },
}

impl Ev {
    fn ts(&self) -> i64 {
        match *self {
            Ev::Book { ts, .. }
            | Ev::OneSided { ts }
            | Ev::Trade { ts, .. }
            | Ev::Funding { ts, .. }
            | Ev::Liquidation { ts, .. } => ts,
        }
    }
}

struct Run {
    name: String,
    cfg: SignalConfig,
    price_scale: u8,
    qty_scale: u8,
    tick: i64,
    events: Vec<Ev>,
    snaps: Vec<SignalSnapshot>,
    duplicates: u64,
    profile_dropped: u64,
}

/// Liquidation frames copied from the recording's trades of at least
/// `min_qty` (text compare on the parsed value), in the venue's format.
fn with_synthetic_liquidations(venue: Venue, lines: &[(u64, Vec<u8>)], min_qty: f64) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::with_capacity(lines.len());
    let mut added = 0;
    for (_, frame) in lines {
        out.push(frame.clone());
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(frame) else { continue };
        match venue {
            Venue::BinanceUsdm => {
                let d = &v["data"];
                if d["e"] != "trade" {
                    continue;
                }
                let q = d["q"].as_str().unwrap();
                if q.parse::<f64>().unwrap() < min_qty {
                    continue;
                }
                // The taker sold: call it a long's liquidation (a SELL order).
                let side = if d["m"].as_bool().unwrap() { "SELL" } else { "BUY" };
                let (t, p, s) = (d["T"].as_i64().unwrap(), d["p"].as_str().unwrap(), d["s"].as_str().unwrap());
                let f = format!(
                    r#"{{"stream":"{}@forceOrder","data":{{"e":"forceOrder","E":{t},"o":{{"s":"{s}","S":"{side}","o":"LIMIT","f":"IOC","q":"{q}","p":"{p}","ap":"{p}","X":"FILLED","l":"{q}","z":"{q}","T":{t}}}}}}}"#,
                    s.to_lowercase()
                );
                out.push(f.into_bytes());
                added += 1;
            }
            Venue::BybitLinear => {
                let Some(topic) = v["topic"].as_str() else { continue };
                if !topic.starts_with("publicTrade.") {
                    continue;
                }
                let mut items = Vec::new();
                for t in v["data"].as_array().unwrap() {
                    let q = t["v"].as_str().unwrap();
                    if q.parse::<f64>().unwrap() < min_qty {
                        continue;
                    }
                    items.push(format!(
                        r#"{{"T":{},"s":"{}","S":"{}","v":"{q}","p":"{}"}}"#,
                        t["T"].as_i64().unwrap(),
                        t["s"].as_str().unwrap(),
                        t["S"].as_str().unwrap(),
                        t["p"].as_str().unwrap()
                    ));
                }
                if items.is_empty() {
                    continue;
                }
                added += items.len();
                let symbol = &topic["publicTrade.".len()..];
                let f = format!(
                    r#"{{"topic":"allLiquidation.{symbol}","type":"snapshot","ts":{},"data":[{}]}}"#,
                    v["ts"],
                    items.join(",")
                );
                out.push(f.into_bytes());
            }
        }
    }
    (out, added)
}

/// Collects what the core's signals fold in, for one instrument.
struct Recorder {
    inst: InstrumentId,
    k: usize,
    pending_reset: bool,
    events: Vec<Ev>,
    snaps: Vec<SignalSnapshot>,
}

impl Probe for Recorder {
    const OBSERVES: bool = true;

    fn observe(&mut self, inst: InstrumentId, what: &Observation<'_>, snapshot: &SignalSnapshot) {
        if inst != self.inst {
            return;
        }
        let ev = match *what {
            Observation::BookLost => {
                self.pending_reset = true;
                return;
            }
            Observation::Book { ts_ms, book } => {
                let bids: Vec<(i64, i64)> = book.top(Side::Buy, self.k).map(|(p, q)| (p.0, q.0)).collect();
                let asks: Vec<(i64, i64)> = book.top(Side::Sell, self.k).map(|(p, q)| (p.0, q.0)).collect();
                if bids.is_empty() || asks.is_empty() {
                    self.pending_reset = true;
                    Ev::OneSided { ts: ts_ms }
                } else {
                    let baseline = std::mem::take(&mut self.pending_reset);
                    Ev::Book { ts: ts_ms, bids, asks, baseline }
                }
            }
            Observation::Trade(t) => {
                Ev::Trade { ts: t.trade_ms, price: t.price.0, qty: t.qty.0, buy: t.taker_side == Side::Buy }
            }
            Observation::Funding { ts_ms, rate, next_ms } => Ev::Funding { ts: ts_ms, rate: rate.0, next: next_ms },
            Observation::Liquidation(l) => {
                Ev::Liquidation { ts: l.ts_ms, long: l.position_side == Side::Buy, price: l.price.0, qty: l.qty.0 }
            }
        };
        self.events.push(ev);
        self.snaps.push(*snapshot);
    }
}

/// The risk side, ignored: the test is about the signals.
struct NullLink;

impl RiskLink for NullLink {
    fn send(&mut self, _input: &scalpel::risk::RiskInput, _now_ns: u64) {}
    fn equity(&self) -> scalpel::fixed::Notional {
        scalpel::fixed::Notional(10_000 * 100_000_000)
    }
}

/// Runs `frames` through the trading core (the one router production
/// runs) and records what the signals of `symbol` folded in.
fn drive(name: &str, venue: Venue, frames: &[Vec<u8>], symbol: &[u8], cfg: &SignalConfig) -> Run {
    let profile = Profile::from_toml_str(
        &format!("[instruments]\nsymbols = [\"BTCUSDT\", \"ETHUSDT\"]\nvenues = [\"{venue}\"]\n"),
        std::path::Path::new("."),
    )
    .unwrap();
    let entry = profile.instruments.get(venue, &Symbol::new(symbol).unwrap()).copied().unwrap();
    let inst = InstrumentId(profile.instruments.all().iter().position(|i| *i == entry).unwrap() as u16);
    let recorder = Recorder { inst, k: cfg.depth_levels, pending_reset: true, events: Vec::new(), snaps: Vec::new() };
    let signals = LiveSignals::new(cfg, profile.instruments.all());
    let mut core =
        Core::new(&profile, signals, NullLink, recorder, SessionEpoch(1), Arc::new(VerdictCell::new())).unwrap();
    let feed = core.add_feed(venue, BindMode::Auto);
    let mut out = Intents::with_capacity(core.intents_capacity());
    let mut recv_ns = 0u64;
    for frame in frames {
        let mut work = frame.clone();
        // The frame's own exchange time as its receive time: no clamping.
        recv_ns = recv_ns.max(exchange_ns(frame));
        core.on_frame(feed, &mut work, recv_ns, &mut out);
        out.clear();
    }
    let duplicates = core.market().get(inst).unwrap().trades.duplicates;
    let profile_dropped = core.signals().profile_dropped(inst);
    let recorder = core.probe_mut();
    let (events, snaps) = (std::mem::take(&mut recorder.events), std::mem::take(&mut recorder.snaps));
    assert_eq!(events.len(), snaps.len());
    Run {
        name: name.to_owned(),
        cfg: cfg.clone(),
        price_scale: entry.price_scale,
        qty_scale: entry.qty_scale,
        tick: entry.tick.0,
        events,
        snaps,
        duplicates,
        profile_dropped,
    }
}

/// The largest `"E"`/`"T"`/`"ts"` integer of a frame, in ns (0 when none).
fn exchange_ns(frame: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(frame);
    let mut best = 0u64;
    for key in ["\"E\":", "\"T\":", "\"ts\":"] {
        for (at, _) in text.match_indices(key) {
            let digits: String = text[at + key.len()..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(ms) = digits.parse::<u64>() {
                best = best.max(ms * 1_000_000);
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------
// Comparison helpers.

/// Relative agreement to 1e-9 of `scale` (at least the magnitude of either
/// value).
#[track_caller]
fn close(got: f64, want: f64, scale: f64, what: &str, run: &str, i: usize) {
    let tol = 1e-9 * scale.max(got.abs()).max(want.abs());
    assert!(
        (got - want).abs() <= tol || got == want,
        "{run}: {what} at event {i}: incremental {got:e}, batch {want:e} (diff {:e}, tol {tol:e})",
        (got - want).abs()
    );
}

fn pow10(n: u8) -> f64 {
    10f64.powi(i32::from(n))
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// The clock: the running maximum of the event times.
fn clocks(events: &[Ev]) -> Vec<i64> {
    let mut c = i64::MIN;
    events
        .iter()
        .map(|e| {
            c = c.max(e.ts());
            c
        })
        .collect()
}

/// Index of the last two-sided book at or before each event.
fn last_books(events: &[Ev]) -> Vec<Option<usize>> {
    let mut last = None;
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if matches!(e, Ev::Book { .. }) {
                last = Some(i);
            }
            last
        })
        .collect()
}

fn level(levels: &[(i64, i64)], m: usize, bid: bool) -> (i64, i64) {
    levels.get(m).copied().unwrap_or(if bid { (0, 0) } else { (i64::MAX, 0) })
}

fn mid2_of(e: &Ev) -> i64 {
    match e {
        Ev::Book { bids, asks, .. } => bids[0].0 + asks[0].0,
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------
// Book shape and OFI.

fn check_book(run: &Run) -> usize {
    let clocks = clocks(&run.events);
    let books = last_books(&run.events);
    let k = run.cfg.depth_levels;
    let unit = pow10(run.price_scale);
    let bucket_ms = i64::from(run.cfg.ofi_window_ms / run.cfg.window_buckets);
    let nb = i64::from(run.cfg.window_buckets);
    let mut compared = 0;
    for (i, snap) in run.snaps.iter().enumerate() {
        assert_eq!(snap.ts_ms, clocks[i], "{}: clock at {i}", run.name);
        let Some(b) = books[i] else {
            assert_eq!((snap.mid, snap.ofi), (0.0, 0.0));
            continue;
        };
        let Ev::Book { bids, asks, .. } = &run.events[b] else { unreachable!() };
        let (bp, bq) = (bids[0].0 as f64, bids[0].1 as f64);
        let (ap, aq) = (asks[0].0 as f64, asks[0].1 as f64);
        let mid = (bp + ap) / 2.0;
        let n = &run.name;
        close(snap.mid, mid / unit, 0.0, "mid", n, i);
        close(snap.microprice, (bp * aq + ap * bq) / (aq + bq) / unit, 0.0, "microprice", n, i);
        close(snap.spread_ticks, (ap - bp) / run.tick as f64, 0.0, "spread_ticks", n, i);
        close(snap.spread_bps, (ap - bp) / mid * 1e4, 0.0, "spread_bps", n, i);
        close(snap.tob_imbalance, (bq - aq) / (bq + aq), 1e-300, "tob_imbalance", n, i);
        let sb: i64 = bids.iter().take(k).map(|l| l.1).sum();
        let sa: i64 = asks.iter().take(k).map(|l| l.1).sum();
        close(snap.depth_imbalance, (sb - sa) as f64 / (sb + sa) as f64, 1e-300, "depth_imbalance", n, i);

        // OFI: re-select the window's books and re-add their flows.
        let now_bucket = floor_div(clocks[i], bucket_ms);
        let (mut flow1, mut flowk, mut depth1, mut depthk, mut obs) = (0i64, 0i64, 0i64, 0i64, 0i64);
        // Clocks never decrease: walk back from i until the window's start.
        for j in (0..=i).rev() {
            if floor_div(clocks[j], bucket_ms) <= now_bucket - nb {
                break;
            }
            let Ev::Book { bids, asks, baseline, .. } = &run.events[j] else { continue };
            obs += 1;
            depth1 += bids[0].1 + asks[0].1;
            for m in 0..k {
                depthk += level(bids, m, true).1 + level(asks, m, false).1;
            }
            if *baseline {
                continue;
            }
            let prev = (0..j).rev().find(|&p| matches!(run.events[p], Ev::Book { .. } | Ev::OneSided { .. })).unwrap();
            let Ev::Book { bids: pb, asks: pa, .. } = &run.events[prev] else {
                panic!("a non-baseline book follows a one-sided one")
            };
            for m in 0..k {
                let (b0, b1) = (level(pb, m, true), level(bids, m, true));
                let (a0, a1) = (level(pa, m, false), level(asks, m, false));
                let e = if b1.0 >= b0.0 { b1.1 } else { 0 }
                    - if b1.0 <= b0.0 { b0.1 } else { 0 }
                    - if a1.0 <= a0.0 { a1.1 } else { 0 }
                    + if a1.0 >= a0.0 { a0.1 } else { 0 };
                if m == 0 {
                    flow1 += e;
                }
                flowk += e;
            }
        }
        let avg1 = depth1 as f64 / 2.0 / obs as f64;
        let avgk = depthk as f64 / 2.0 / obs as f64;
        let (want1, wantk) = if obs > 0 { (flow1 as f64 / avg1, flowk as f64 / avgk) } else { (0.0, 0.0) };
        close(snap.ofi, want1, 1e-300, "ofi", n, i);
        close(snap.ofi_multi, wantk, 1e-300, "ofi_multi", n, i);
        compared += usize::from(flow1 != 0);
    }
    compared
}

// ---------------------------------------------------------------------------
// Trade flow, VWAP, volume profile.

fn check_trades(run: &Run) -> usize {
    let clocks = clocks(&run.events);
    let books = last_books(&run.events);
    let cfg = &run.cfg;
    let qunit = pow10(run.qty_scale);
    let punit = pow10(run.price_scale);
    let trades: Vec<(usize, i64, i64, bool)> = run
        .events
        .iter()
        .enumerate()
        .filter_map(|(j, e)| match *e {
            Ev::Trade { price, qty, buy, .. } => Some((j, price, qty, buy)),
            _ => None,
        })
        .collect();
    let nb = i64::from(cfg.window_buckets);
    let tb = i64::from(cfg.trade_window_ms / cfg.window_buckets);
    let vb = i64::from(cfg.vwap_window_ms / cfg.window_buckets);
    let w = i64::from(cfg.trade_window_ms);
    let h = i64::from(cfg.surge_windows);
    let first_window = floor_div(clocks[0], w);
    let slice_ms = i64::from(cfg.vwap_window_ms / cfg.profile_slices);
    let slices = i64::from(cfg.profile_slices);
    let row_width = run.tick * i64::from(cfg.profile_bin_ticks);
    let tclock: Vec<i64> = trades.iter().map(|t| clocks[t.0]).collect();
    // Trades at or before event `i` with a clock of at least `from`.
    let since = |from: i64, seen: usize| tclock[..seen].partition_point(|&c| c < from)..seen;
    let mut compared = 0;
    let mut seen = 0usize; // trades at or before event i
    let mut cvd_cache = (usize::MAX, 0i64);
    // (slice, trades seen) → (POC, VAL, VAH).
    type ProfileKey = (i64, usize);
    let mut profile_cache: Option<(ProfileKey, (f64, f64, f64))> = None;
    for (i, snap) in run.snaps.iter().enumerate() {
        while seen < trades.len() && trades[seen].0 <= i {
            seen += 1;
        }
        let upto = &trades[..seen];
        let now = clocks[i];
        let n = &run.name;
        // CVD: every trade so far.
        if cvd_cache.0 != seen {
            cvd_cache = (seen, upto.iter().map(|t| if t.3 { t.2 } else { -t.2 }).sum());
        }
        assert_eq!(snap.cvd, cvd_cache.1 as f64 / qunit, "{n}: cvd at {i}");
        // The rolling window: buckets after floor(now / tb) − nb.
        let (mut buy, mut sell) = (0i64, 0i64);
        for t in &trades[since((floor_div(now, tb) - nb + 1) * tb, seen)] {
            if t.3 {
                buy += t.2;
            } else {
                sell += t.2;
            }
        }
        assert_eq!(snap.signed_volume, (buy - sell) as f64 / qunit, "{n}: signed_volume at {i}");
        let share = if buy + sell > 0 { buy as f64 / (buy + sell) as f64 } else { 0.5 };
        close(snap.buy_share, share, 0.0, "buy_share", n, i);
        // Surges over the aligned windows A−H ..= A−1, all after the first.
        let a = floor_div(now, w);
        let (mut want_surge, mut want_net) = (0.0, 0.0);
        if a - h > first_window {
            let (mut vol, mut abs_net) = (0i64, 0i64);
            for win in a - h..a {
                let (mut v, mut net) = (0i64, 0i64);
                for t in &trades[since(win * w, seen)] {
                    if floor_div(clocks[t.0], w) != win {
                        break;
                    }
                    v += t.2;
                    net += if t.3 { t.2 } else { -t.2 };
                }
                vol += v;
                abs_net += net.abs();
            }
            let (mv, mn) = (vol as f64 / h as f64, abs_net as f64 / h as f64);
            if mv > 0.0 {
                want_surge = (buy + sell) as f64 / mv;
            }
            if mn > 0.0 {
                want_net = (buy - sell).abs() as f64 / mn;
            }
            compared += 1;
        }
        close(snap.volume_surge, want_surge, 0.0, "volume_surge", n, i);
        close(snap.net_flow_surge, want_net, 0.0, "net_flow_surge", n, i);

        // VWAP and σ, two-pass.
        let in_vwap: Vec<(f64, f64)> =
            trades[since((floor_div(now, vb) - nb + 1) * vb, seen)].iter().map(|t| (t.1 as f64, t.2 as f64)).collect();
        let q: f64 = in_vwap.iter().map(|t| t.1).sum();
        if q > 0.0 {
            let vwap = in_vwap.iter().map(|t| t.0 * t.1).sum::<f64>() / q;
            let var = in_vwap.iter().map(|t| t.1 * (t.0 - vwap) * (t.0 - vwap)).sum::<f64>() / q;
            let (vwap, sigma) = (vwap / punit, var.sqrt() / punit);
            close(snap.vwap, vwap, 0.0, "vwap", n, i);
            let mid = books[i].map_or(0.0, |b| mid2_of(&run.events[b]) as f64 / 2.0 / punit);
            if mid > 0.0 {
                // The deviation is a difference of two ~equal prices: judge it
                // on the scale of the prices.
                close(snap.vwap_dev_bps, 1e4 * (mid - vwap) / vwap, 1e4, "vwap_dev_bps", n, i);
                let want = if sigma > 0.0 { (mid - vwap) / sigma } else { 0.0 };
                close(snap.vwap_dev_sigma, want, if sigma > 0.0 { mid / sigma } else { 0.0 }, "vwap_dev_sigma", n, i);
            }
        } else {
            assert_eq!((snap.vwap, snap.vwap_dev_bps, snap.vwap_dev_sigma), (0.0, 0.0, 0.0), "{n}: empty vwap at {i}");
        }

        // Volume profile: rows of the live slices in a dense vector.
        let k_now = floor_div(now, slice_ms);
        let key = (k_now, seen);
        let want = match profile_cache {
            Some((k, v)) if k == key => v,
            _ => {
                let live: Vec<&(usize, i64, i64, bool)> =
                    trades[since((k_now - slices + 1) * slice_ms, seen)].iter().collect();
                let v = if live.is_empty() {
                    (0.0, 0.0, 0.0)
                } else {
                    let lo = live.iter().map(|t| floor_div(t.1, row_width)).min().unwrap();
                    let hi = live.iter().map(|t| floor_div(t.1, row_width)).max().unwrap();
                    let mut rows = vec![0i64; (hi - lo + 1) as usize];
                    for t in &live {
                        rows[(floor_div(t.1, row_width) - lo) as usize] += t.2;
                    }
                    let total: i64 = rows.iter().sum();
                    let max = *rows.iter().max().unwrap();
                    let poc = lo + rows.iter().position(|&r| r == max).unwrap() as i64;
                    let f = cfg.value_area_fraction;
                    let target = |x: f64| ((total as f64 * x / 2.0).ceil() as i64).clamp(1, total);
                    let quantile = |t: i64| {
                        let mut acc = 0;
                        for (r, v) in rows.iter().enumerate() {
                            acc += v;
                            if acc >= t {
                                return lo + r as i64;
                            }
                        }
                        unreachable!()
                    };
                    let (low, high) = (quantile(target(1.0 - f)), quantile(target(1.0 + f)));
                    let wf = row_width as f64;
                    (
                        ((poc * row_width) as f64 + 0.5 * (wf - run.tick as f64)) / punit,
                        (low * row_width) as f64 / punit,
                        (high * row_width + row_width - run.tick) as f64 / punit,
                    )
                };
                profile_cache = Some((key, v));
                v
            }
        };
        close(snap.poc, want.0, 0.0, "poc", n, i);
        close(snap.value_area_low, want.1, 0.0, "value_area_low", n, i);
        close(snap.value_area_high, want.2, 0.0, "value_area_high", n, i);
    }
    assert_eq!(run.profile_dropped, 0, "{}: the profile dropped trades; the batch above does not model that", run.name);
    compared
}

// ---------------------------------------------------------------------------
// Volatility and kinematics: explicit kernel sums over the whole history.

/// `(time, mid2)` of every two-sided book, with the event index.
fn mids(run: &Run) -> Vec<(usize, i64, i64)> {
    let clocks = clocks(&run.events);
    run.events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Ev::Book { .. }))
        .map(|(i, e)| (i, clocks[i], mid2_of(e)))
        .collect()
}

/// Batch volatility after each book (bps/√s).
fn batch_volatility(run: &Run, mids: &[(usize, i64, i64)]) -> Vec<f64> {
    let tau = f64::from(run.cfg.volatility_half_life_ms) / std::f64::consts::LN_2;
    (0..mids.len())
        .map(|b| {
            let tb = mids[b].1;
            let mut var = 0.0;
            for j in 1..=b {
                let (prev, cur) = (mids[j - 1].2, mids[j].2);
                if cur != prev {
                    let x = 1e4 * (cur - prev) as f64 / prev as f64;
                    var += (-((tb - mids[j].1) as f64) / tau).exp() * x * x / (tau / 1000.0);
                }
            }
            let elapsed = (tb - mids[0].1) as f64 / tau;
            let mass = if elapsed >= 40.0 { 1.0 } else { 1.0 - (-elapsed).exp() };
            if mass > 0.0 { (var / mass).sqrt() } else { 0.0 }
        })
        .collect()
}

fn check_volatility(run: &Run) -> usize {
    let mids = mids(run);
    let vols = batch_volatility(run, &mids);
    let books = last_books(&run.events);
    let tv = f64::from(run.cfg.velocity_tau_ms);
    let ta = f64::from(run.cfg.acceleration_tau_ms);
    let carry =
        |d: f64| if tv == ta { d / tv * (-d / tv).exp() } else { tv / (tv - ta) * ((-d / tv).exp() - (-d / ta).exp()) };
    let mut kin: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(mids.len());
    for b in 0..mids.len() {
        let tb = mids[b].1;
        let (mut v, mut m, mut scale_v, mut scale_a) = (0.0, 0.0, 0.0, 0.0);
        for j in 1..=b {
            let (prev, cur) = (mids[j - 1].2, mids[j].2);
            if cur == prev {
                continue;
            }
            let jump = 1e4 * (cur - prev) as f64 / prev as f64 / (tv / 1000.0);
            let age = (tb - mids[j].1) as f64;
            let e = (-age / tv).exp();
            v += jump * e;
            m += jump * carry(age);
            scale_v += (jump * e).abs();
            scale_a += jump.abs() * (e + carry(age).abs());
        }
        kin.push((v, (v - m) / (ta / 1000.0), scale_v, scale_a / (ta / 1000.0)));
    }
    let mut book_no = vec![None; run.events.len()];
    for (b, &(i, _, _)) in mids.iter().enumerate() {
        book_no[i] = Some(b);
    }
    let mut compared = 0;
    for (i, snap) in run.snaps.iter().enumerate() {
        let Some(b) = books[i].and_then(|e| book_no[e]) else {
            assert_eq!((snap.volatility_bps, snap.velocity_bps_s, snap.acceleration_bps_s2), (0.0, 0.0, 0.0));
            continue;
        };
        let n = &run.name;
        close(snap.volatility_bps, vols[b], 0.0, "volatility_bps", n, i);
        close(snap.velocity_bps_s, kin[b].0, kin[b].2, "velocity_bps_s", n, i);
        close(snap.acceleration_bps_s2, kin[b].1, kin[b].3, "acceleration_bps_s2", n, i);
        compared += usize::from(kin[b].0 != 0.0);
    }
    compared
}

// ---------------------------------------------------------------------------
// Grid samples for OU, momentum and regime.

/// The grid of one slot length: the value at the end of each slot from
/// `first` (the first book's slot) to `g`, re-derived from the book list.
fn grid(mids: &[(usize, i64, i64)], upto_event: usize, slot_ms: i64, g: i64) -> Vec<i64> {
    let first = floor_div(mids[0].1, slot_ms);
    let mut out = Vec::new();
    let mut value = mids[0].2;
    let mut j = 0;
    for s in first..=g {
        while j < mids.len() && mids[j].0 <= upto_event && floor_div(mids[j].1, slot_ms) <= s {
            value = mids[j].2;
            j += 1;
        }
        out.push(value);
    }
    out
}

/// The last complete slot at event `i`, if the series has one.
fn last_complete(mids: &[(usize, i64, i64)], clock: i64, i: usize, slot_ms: i64) -> Option<i64> {
    let first = mids.first().filter(|m| m.0 <= i)?;
    let s = floor_div(clock, slot_ms);
    (s > floor_div(first.1, slot_ms)).then_some(s - 1)
}

fn check_ou(run: &Run) -> usize {
    let clocks = clocks(&run.events);
    let mids = mids(run);
    let books = last_books(&run.events);
    let cfg = &run.cfg;
    let slot = i64::from(cfg.sample_ms);
    let n = i64::from(cfg.ou_window_ms / cfg.sample_ms);
    let dt_s = slot as f64 / 1000.0;
    let unit = 2.0 * pow10(run.price_scale);
    let mut reverting = 0;
    // θ, μ, σ, stationary σ, reverting.
    type OuFit = (f64, f64, f64, f64, bool);
    let mut cache: Option<(i64, Option<OuFit>)> = None;
    for (i, snap) in run.snaps.iter().enumerate() {
        let name = &run.name;
        let Some(g) = last_complete(&mids, clocks[i], i, slot) else {
            assert_eq!((snap.ou_theta, snap.ou_mu, snap.ou_drift), (0.0, 0.0, 0));
            continue;
        };
        let params = match cache {
            Some((cg, p)) if cg == g => p,
            _ => {
                let xs = grid(&mids, i, slot, g);
                let p = if (xs.len() as i64) < n + 1 {
                    None
                } else {
                    let reference = mids[0].2;
                    let win: Vec<f64> =
                        xs[xs.len() - n as usize - 1..].iter().map(|&x| (x - reference) as f64).collect();
                    let (px, py) = (&win[..win.len() - 1], &win[1..]);
                    let nf = px.len() as f64;
                    let mx = px.iter().sum::<f64>() / nf;
                    let my = py.iter().sum::<f64>() / nf;
                    let sxx: f64 = px.iter().map(|x| (x - mx) * (x - mx)).sum();
                    let sxy: f64 = px.iter().zip(py).map(|(x, y)| (x - mx) * (y - my)).sum();
                    if sxx == 0.0 {
                        Some((0.0, 0.0, 0.0, 0.0, false))
                    } else {
                        let b = sxy / sxx;
                        let a = my - b * mx;
                        let resid = px.iter().zip(py).map(|(x, y)| (y - a - b * x).powi(2)).sum::<f64>() / (nf - 2.0);
                        if b <= 0.0 {
                            Some((0.0, 0.0, 0.0, 0.0, false))
                        } else if b >= 1.0 || resid <= 0.0 {
                            Some((-b.ln() / dt_s, 0.0, 0.0, 0.0, false))
                        } else {
                            let theta = -b.ln() / dt_s;
                            let mu = a / (1.0 - b);
                            let sigma = (resid * 2.0 * theta / (1.0 - b * b)).sqrt();
                            let sigma_eq = (resid / (1.0 - b * b)).sqrt();
                            Some((theta, mu, sigma, sigma_eq, true))
                        }
                    }
                };
                cache = Some((g, p));
                p
            }
        };
        let Some((theta, mu, sigma, sigma_eq, rev)) = params else {
            assert_eq!((snap.ou_theta, snap.ou_zscore), (0.0, 0.0), "{name}: OU before its window at {i}");
            continue;
        };
        close(snap.ou_theta, theta, 0.0, "ou_theta", name, i);
        if !rev {
            assert_eq!(
                (snap.ou_mu, snap.ou_sigma, snap.ou_zscore, snap.ou_drift),
                (0.0, 0.0, 0.0, 0),
                "{name}: at {i}"
            );
            continue;
        }
        reverting += 1;
        let reference = mids[0].2 as f64;
        let current = mid2_of(&run.events[books[i].unwrap()]) as f64 - reference;
        // μ is a price near the reference: judge it on the price scale.
        close(snap.ou_mu, (reference + mu) / unit, 0.0, "ou_mu", name, i);
        close(snap.ou_sigma, sigma / unit, 0.0, "ou_sigma", name, i);
        let z = if sigma_eq > 0.0 { (current - mu) / sigma_eq } else { 0.0 };
        close(snap.ou_zscore, z, (current.abs() + mu.abs()) / sigma_eq, "ou_zscore", name, i);
        let drift = if z.abs() >= cfg.ou_min_zscore && z != 0.0 { if z > 0.0 { -1 } else { 1 } } else { 0 };
        assert_eq!(snap.ou_drift, drift, "{name}: ou_drift at {i} (z {z})");
    }
    reverting
}

fn check_momentum(run: &Run) -> usize {
    let clocks = clocks(&run.events);
    let mids = mids(run);
    let books = last_books(&run.events);
    let cfg = &run.cfg;
    let slot = i64::from(cfg.sample_ms);
    let (ls, ll) = (i64::from(cfg.momentum_short_ms) / slot, i64::from(cfg.momentum_long_ms) / slot);
    let mut aligned = 0;
    let mut cache: (i64, usize, Vec<i64>) = (i64::MIN, 0, Vec::new());
    for (i, snap) in run.snaps.iter().enumerate() {
        let Some(g) = last_complete(&mids, clocks[i], i, slot) else { continue };
        // The grid's complete samples change only with G (or a first book).
        let books_so_far = mids.partition_point(|m| m.0 <= i);
        if (cache.0, cache.1) != (g, books_so_far) {
            cache = (g, books_so_far, grid(&mids, i, slot, g));
        }
        let xs = &cache.2;
        if (xs.len() as i64) <= ll {
            assert_eq!((snap.momentum_short_bps, snap.momentum_long_bps, snap.momentum_aligned), (0.0, 0.0, None));
            continue;
        }
        let current = mid2_of(&run.events[books[i].unwrap()]);
        let at = |lag: i64| xs[xs.len() - 1 - lag as usize];
        let ret = |past: i64| 1e4 * (current - past) as f64 / past as f64;
        let (s, l) = (ret(at(ls)), ret(at(ll)));
        close(snap.momentum_short_bps, s, 0.0, "momentum_short_bps", &run.name, i);
        close(snap.momentum_long_bps, l, 0.0, "momentum_long_bps", &run.name, i);
        let m = cfg.momentum_min_bps;
        let want = if s > m && l > m && s > 0.0 && l > 0.0 {
            Some(Side::Buy)
        } else if s < -m && l < -m && s < 0.0 && l < 0.0 {
            Some(Side::Sell)
        } else {
            None
        };
        assert_eq!(snap.momentum_aligned, want, "{}: momentum_aligned at {i}", run.name);
        aligned += usize::from(want.is_some());
    }
    aligned
}

fn sample_variance(r: &[f64]) -> f64 {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
}

fn vol_bin(v: f64) -> usize {
    if v.is_nan() || v <= 1e-3 {
        return 0;
    }
    ((16.0 * (v / 1e-3).log2()).floor() as usize).min(255)
}

fn check_regime(run: &Run) -> (usize, usize) {
    let clocks = clocks(&run.events);
    let mids = mids(run);
    let vols = batch_volatility(run, &mids);
    let cfg = &run.cfg;
    let slot = i64::from(cfg.sample_ms);
    let q = i64::from(cfg.regime_coarse_samples);
    let nf = i64::from(cfg.regime_window_ms) / slot;
    let nc = i64::from(cfg.regime_window_ms) / (slot * q);
    let m = i64::from(cfg.regime_vol_window_ms) / slot;
    let (mut regime, mut changed) = (Regime::Unknown, i64::MIN / 2);
    let (mut vr, mut pct): (Option<f64>, Option<f64>) = (None, None);
    let mut prev_g: Option<i64> = None;
    let (mut evaluations, mut classified) = (0, 0);
    for (i, snap) in run.snaps.iter().enumerate() {
        let g = last_complete(&mids, clocks[i], i, slot);
        if let Some(g) = g.filter(|&g| Some(g) != prev_g) {
            evaluations += 1;
            let fine = grid(&mids, i, slot, g);
            let coarse = last_complete(&mids, clocks[i], i, slot * q).map(|gc| grid(&mids, i, slot * q, gc));
            let returns = |xs: &[i64], n: i64| -> Option<Vec<f64>> {
                ((xs.len() as i64) > n)
                    .then(|| xs[xs.len() - n as usize - 1..].windows(2).map(|w| (w[1] - w[0]) as f64).collect())
            };
            vr = match (returns(&fine, nf), coarse.as_deref().and_then(|c| returns(c, nc))) {
                (Some(rf), Some(rc)) => {
                    let vf = sample_variance(&rf);
                    (vf > 0.0).then(|| sample_variance(&rc) / (q as f64 * vf))
                }
                _ => None,
            };
            // Volatility samples: the value after the last book of each slot.
            let first = floor_div(mids[0].1, slot);
            pct = if g - first + 1 >= m {
                let mut bins = Vec::new();
                let mut j = 0;
                let mut current = 0usize;
                for s in first..=g {
                    while j < mids.len() && mids[j].0 <= i && floor_div(mids[j].1, slot) <= s {
                        current = vol_bin(vols[j]);
                        j += 1;
                    }
                    if s > g - m {
                        bins.push(current);
                    }
                }
                let last = *bins.last().unwrap();
                let below = bins.iter().filter(|&&b| b < last).count() as f64;
                let equal = bins.iter().filter(|&&b| b == last).count() as f64;
                Some((below + 0.5 * equal) / bins.len() as f64)
            } else {
                None
            };
            if let (Some(p), true) = (pct, vr.is_some() || regime != Regime::Unknown) {
                let target = match (regime, vr) {
                    (_, None) => regime,
                    (Regime::Unknown, Some(v)) => {
                        if p >= cfg.high_vol_enter_pct {
                            Regime::HighVolatility
                        } else if v >= 1.0 {
                            Regime::Trending
                        } else {
                            Regime::Ranging
                        }
                    }
                    (Regime::HighVolatility, Some(v)) => {
                        if p < cfg.high_vol_exit_pct {
                            if v >= 1.0 { Regime::Trending } else { Regime::Ranging }
                        } else {
                            Regime::HighVolatility
                        }
                    }
                    (_, Some(_)) if p >= cfg.high_vol_enter_pct => Regime::HighVolatility,
                    (Regime::Trending, Some(v)) if v <= cfg.range_enter_vr => Regime::Ranging,
                    (Regime::Ranging, Some(v)) if v >= cfg.trend_enter_vr => Regime::Trending,
                    (r, _) => r,
                };
                if target != regime
                    && (regime == Regime::Unknown || clocks[i] - changed >= i64::from(cfg.regime_min_dwell_ms))
                {
                    regime = target;
                    changed = clocks[i];
                }
            }
            prev_g = Some(g);
        }
        let name = &run.name;
        assert_eq!(snap.regime, regime, "{name}: regime at {i} (vr {vr:?}, pct {pct:?})");
        close(snap.variance_ratio, vr.unwrap_or(0.0), 0.0, "variance_ratio", name, i);
        assert_eq!(snap.volatility_percentile, pct.unwrap_or(0.0), "{name}: volatility_percentile at {i}");
        classified += usize::from(regime != Regime::Unknown);
    }
    (evaluations, classified)
}

// ---------------------------------------------------------------------------
// Funding and liquidations.

fn check_funding(run: &Run) -> usize {
    let clocks = clocks(&run.events);
    let cfg = &run.cfg;
    let mut last: Option<(i64, i64)> = None;
    let mut compared = 0;
    for (i, snap) in run.snaps.iter().enumerate() {
        if let Ev::Funding { rate, next, .. } = run.events[i] {
            last = Some((rate, next));
        }
        let Some((rate, next)) = last else {
            assert_eq!((snap.funding_rate, snap.ms_to_funding, snap.funding_bias), (0.0, 0, 0.0));
            continue;
        };
        let r = rate as f64 / 1e8;
        let ms_to = (next - clocks[i]).max(0);
        let h = f64::from(cfg.funding_horizon_ms);
        let w = 1.0 - (1.0 - cfg.funding_min_weight) * (ms_to as f64).min(h) / h;
        let bias = -(r / cfg.funding_rate_scale).clamp(-1.0, 1.0) * w;
        close(snap.funding_rate, r, 0.0, "funding_rate", &run.name, i);
        assert_eq!(snap.ms_to_funding, ms_to, "{}: ms_to_funding at {i}", run.name);
        close(snap.funding_bias, bias, 0.0, "funding_bias", &run.name, i);
        compared += 1;
    }
    compared
}

fn check_liquidations(run: &Run) -> (usize, usize) {
    let clocks = clocks(&run.events);
    let cfg = &run.cfg;
    let nb = i64::from(cfg.window_buckets);
    let bucket = i64::from(cfg.liquidation_window_ms / cfg.window_buckets);
    let unit = pow10(run.price_scale) * pow10(run.qty_scale);
    let mut state: Option<Side> = None;
    let (mut with_liq, mut cascades) = (0, 0);
    let liqs: Vec<(usize, bool, i64, i64)> = run
        .events
        .iter()
        .enumerate()
        .filter_map(|(j, e)| match *e {
            Ev::Liquidation { long, price, qty, .. } => Some((j, long, price, qty)),
            _ => None,
        })
        .collect();
    // The window values at event i over the liquidations before event `upto`.
    let values = |i: usize, upto: usize| {
        let now_b = floor_div(clocks[i], bucket);
        let (mut long, mut short, mut older, mut nl, mut ns) = (0i128, 0i128, 0i128, 0i64, 0i64);
        for &(j, is_long, price, qty) in liqs.iter().take_while(|l| l.0 < upto) {
            let b = floor_div(clocks[j], bucket);
            let notional = i128::from(price) * i128::from(qty);
            if b > now_b - nb {
                if is_long {
                    long += notional;
                    nl += 1;
                } else {
                    short += notional;
                    ns += 1;
                }
            } else if b > now_b - 2 * nb {
                older += notional;
            }
        }
        (long as f64 / unit, short as f64 / unit, nl, ns, (long + short - older) as f64 / unit)
    };
    let rule = |state: Option<Side>, (long, short, nl, ns, accel): (f64, f64, i64, i64, f64)| {
        let total = long + short;
        let starts = |x: f64, n: i64| {
            x >= cfg.cascade_notional
                && n >= i64::from(cfg.cascade_min_events)
                && x >= cfg.cascade_side_share * total
                && accel > 0.0
        };
        match state {
            Some(Side::Buy) if starts(short, ns) => Some(Side::Sell),
            Some(Side::Sell) if starts(long, nl) => Some(Side::Buy),
            Some(Side::Buy) => (long >= cfg.cascade_exit_fraction * cfg.cascade_notional).then_some(Side::Buy),
            Some(Side::Sell) => (short >= cfg.cascade_exit_fraction * cfg.cascade_notional).then_some(Side::Sell),
            None if starts(long, nl) => Some(Side::Buy),
            None if starts(short, ns) => Some(Side::Sell),
            None => None,
        }
    };
    for (i, snap) in run.snaps.iter().enumerate() {
        // The state is re-evaluated when time moves (before a new
        // liquidation is counted) and again with it.
        if matches!(run.events[i], Ev::Liquidation { .. }) {
            state = rule(state, values(i, i));
        }
        let v = values(i, i + 1);
        state = rule(state, v);
        let name = &run.name;
        assert_eq!(snap.liq_long_notional, v.0, "{name}: liq_long_notional at {i}");
        assert_eq!(snap.liq_short_notional, v.1, "{name}: liq_short_notional at {i}");
        assert_eq!(snap.liq_acceleration, v.4, "{name}: liq_acceleration at {i}");
        assert_eq!(snap.cascade, state, "{name}: cascade at {i}");
        with_liq += usize::from(v.0 + v.1 > 0.0);
        cascades += usize::from(state.is_some());
    }
    (with_liq, cascades)
}

// ---------------------------------------------------------------------------

/// A configuration with short windows, so that every family warms up and
/// turns over within the few minutes of the recordings.
fn short_config(cascade_notional: f64) -> SignalConfig {
    SignalConfig::from_toml_str(&format!(
        "trade_window_ms = 500\nsurge_windows = 5\nvwap_window_ms = 10000\nprofile_slices = 10\nprofile_bin_ticks = 5\n\
         volatility_half_life_ms = 5000\nvelocity_tau_ms = 400\nacceleration_tau_ms = 400\nsample_ms = 250\n\
         ou_window_ms = 5000\nregime_window_ms = 10000\nregime_coarse_samples = 4\nregime_vol_window_ms = 5000\n\
         regime_min_dwell_ms = 2000\nmomentum_short_ms = 2000\nmomentum_long_ms = 6000\nmomentum_min_bps = 0.2\n\
         liquidation_window_ms = 2000\ncascade_notional = {cascade_notional:?}\ncascade_min_events = 2\ndepth_levels = 10\n"
    ))
    .unwrap()
}

struct Summary {
    moving_mid: usize,
    ou_reverting: usize,
    momentum_aligned: usize,
    regime_classified: usize,
    funding: usize,
    cascades: usize,
}

fn check_all(run: &Run) -> Summary {
    let ofi = check_book(run);
    let flow = check_trades(run);
    let kin = check_volatility(run);
    let ou = check_ou(run);
    let mom = check_momentum(run);
    let (evals, classified) = check_regime(run);
    let funding = check_funding(run);
    let (liq, cascades) = check_liquidations(run);
    let books = run.events.iter().filter(|e| matches!(e, Ev::Book { .. })).count();
    let trades = run.events.iter().filter(|e| matches!(e, Ev::Trade { .. })).count();
    let warm = run.snaps.iter().filter(|s| s.warm).count();
    println!(
        "{}: {} events ({books} books, {trades} trades, {} duplicates) compared; non-zero OFI {ofi}, surge {flow}, \
         moving mid {kin}, OU reverting {ou}, momentum aligned {mom}, regime evaluations {evals} / classified {classified}, \
         funding {funding}, with liquidations {liq} / in cascade {cascades}; warm at {warm}",
        run.name,
        run.events.len(),
        run.duplicates
    );
    // Nothing above may pass vacuously on the main recording's families.
    assert!(books > 100 && ofi > 0, "{}: book signals never exercised", run.name);
    assert!(run.snaps.iter().any(|s| s.warm_mask & warm::BOOK != 0));
    if trades > 0 {
        assert!(run.snaps.iter().any(|s| s.vwap > 0.0), "{}: VWAP never exercised", run.name);
    }
    if liq == 0 {
        assert_eq!(cascades, 0);
    }
    Summary {
        moving_mid: kin,
        ou_reverting: ou,
        momentum_aligned: mom,
        regime_classified: classified,
        funding,
        cascades,
    }
}

#[test]
fn binance_btcusdt_every_signal_matches_its_batch_recomputation() {
    let Some(path) = common::recording(
        "binance_btcusdt_every_signal_matches_its_batch_recomputation",
        "binance-usdm/btcusdt_20240808.gz",
    ) else {
        return;
    };
    let lines = common::read_lines(&path);
    let (frames, added) = with_synthetic_liquidations(Venue::BinanceUsdm, &lines, 1.0);
    println!(
        "binance: {added} synthetic forceOrder frames (copies of trades ≥ 1 BTC); all other frames are the recording's"
    );

    let defaults = SignalConfig::default();
    let run = drive("binance/defaults", Venue::BinanceUsdm, &frames, b"BTCUSDT", &defaults);
    let summary = check_all(&run);
    // With the default windows the whole set warms up inside the recording.
    let last = run.snaps.last().unwrap();
    assert!(last.warm, "not warm at the end: mask {:#06x} of {:#06x}", last.warm_mask, warm::REQUIRED);
    assert!(summary.moving_mid > 0 && summary.ou_reverting > 0, "the default OU fit never found mean reversion");
    assert!(summary.regime_classified > 0);

    let short = short_config(150_000.0);
    let run = drive("binance/short", Venue::BinanceUsdm, &frames, b"BTCUSDT", &short);
    let summary = check_all(&run);
    assert!(summary.cascades > 0, "the synthetic liquidations never made a cascade: the state machine went untested");
    assert!(summary.regime_classified > 0 && summary.momentum_aligned > 0);
}

#[test]
fn bybit_every_signal_matches_its_batch_recomputation() {
    for (symbol, relative) in
        [("BTCUSDT", "bybit-linear/btcusdt_20260809.gz"), ("ETHUSDT", "bybit-linear/ethusdt_20260809.gz")]
    {
        let Some(path) = common::recording("bybit_every_signal_matches_its_batch_recomputation", relative) else {
            return;
        };
        let lines = common::read_lines(&path);
        let (frames, added) = with_synthetic_liquidations(Venue::BybitLinear, &lines, 0.0);
        println!("bybit {symbol}: {added} synthetic allLiquidation entries (copies of every trade)");
        let run =
            drive(&format!("bybit/{symbol}"), Venue::BybitLinear, &frames, symbol.as_bytes(), &short_config(500.0));
        let summary = check_all(&run);
        assert!(summary.funding > 0, "bybit tickers carry funding");
    }
}
