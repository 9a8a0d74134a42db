//! `scalpel sim` end to end on loopback: an independent client (tungstenite,
//! a hand-written HTTP/1.1 exchange, HMAC from another crate) subscribes,
//! places, cancels and gets the venues' real error codes on both venues;
//! our own sans-IO parsers and sync machines accept everything the
//! simulator sends; a book rebuilt from the simulator's stream equals its
//! REST snapshot; each fault kind is injected, counted and seen by the
//! client; recorded frames are served byte for byte.

mod common;
mod sim_client;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use scalpel::book::DEFAULT_LEVELS;
use scalpel::instrument::InstrumentTable;
use scalpel::json::JsonScratch;
use scalpel::market::{Applied, MarketState};
use scalpel::order::{ClientOrderId, FeeKind, OrderEvent, RejectReason};
use scalpel::sim::{AccountSpec, FaultKind, FaultPlan, MarketInput, SimConfig, Simulator};
use scalpel::venue::binance::private::BinancePrivateParser;
use scalpel::venue::bybit::private::BybitPrivateParser;
use scalpel::venue::private_event::{EMPTY_EVENT, PrivateEvent, SessionEvent};
use scalpel::venue::sync::SyncOutcome;
use scalpel::venue::{Decoder, Venue};
use serde_json::{Value, json};
use sim_client::*;

const T: Duration = Duration::from_secs(10);

fn table() -> InstrumentTable {
    scalpel::commands::instruments::load(None, Venue::BinanceUsdm).unwrap()
}

/// "61800.20" → 6180020: the venues print fixed decimals, so the digits are
/// the mantissa (an independent reading, not our decimal parser).
fn mantissa(text: &str) -> i64 {
    text.replace('.', "").parse().unwrap()
}

/// Levels as (price mantissa, quantity text), best first.
type Levels = Vec<(i64, String)>;

/// An independent order book: price mantissa → quantity text.
#[derive(Default, Debug, PartialEq)]
struct RefBook {
    bids: BTreeMap<i64, String>,
    asks: BTreeMap<i64, String>,
}

impl RefBook {
    fn set(&mut self, side: &str, levels: &Value) {
        let map = if side == "b" || side == "bids" { &mut self.bids } else { &mut self.asks };
        for l in levels.as_array().unwrap() {
            let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
            if q.trim_matches(|c| c == '0' || c == '.').is_empty() {
                map.remove(&mantissa(p));
            } else {
                map.insert(mantissa(p), q.to_owned());
            }
        }
    }

    fn top(&self, n: usize) -> (Levels, Levels) {
        (
            self.bids.iter().rev().take(n).map(|(p, q)| (*p, q.clone())).collect(),
            self.asks.iter().take(n).map(|(p, q)| (*p, q.clone())).collect(),
        )
    }
}

fn levels_of(v: &Value, n: usize) -> Levels {
    v.as_array()
        .unwrap()
        .iter()
        .take(n)
        .map(|l| (mantissa(l[0].as_str().unwrap()), l[1].as_str().unwrap().to_owned()))
        .collect()
}

/// Our own decoders and sync machines over the frames a client received.
struct OurSide {
    decoder: Decoder,
    market: MarketState<DEFAULT_LEVELS>,
    scratch: JsonScratch,
    gaps: u64,
    errors: u64,
    applied: u64,
}

impl OurSide {
    fn new(venue: Venue) -> Self {
        let t = table();
        let symbols = scalpel::instrument::SymbolTable::for_venue(&t, venue);
        let mut decoder = Decoder::new(venue, &t);
        decoder.set_snapshot_instrument(symbols.find(b"BTCUSDT").map(|e| e.id));
        Self {
            decoder,
            market: MarketState::new(venue, symbols.entries()),
            scratch: JsonScratch::default(),
            gaps: 0,
            errors: 0,
            applied: 0,
        }
    }

    fn feed(&mut self, text: &str) {
        let mut bytes = text.as_bytes().to_vec();
        let Self { decoder, market, scratch, gaps, errors, applied } = self;
        decoder.decode_frame(scratch, &mut bytes, |ev| match ev {
            Ok(ev) => {
                let a = market.apply(&ev, |_, _, o| match o {
                    SyncOutcome::Gap { .. }
                    | SyncOutcome::Crossed { .. }
                    | SyncOutcome::Corrupt(_)
                    | SyncOutcome::SnapshotTooOld { .. } => *gaps += 1,
                    SyncOutcome::Applied { .. } => *applied += 1,
                    _ => {}
                });
                if matches!(a, Applied::Malformed | Applied::UnknownInstrument) {
                    *errors += 1;
                }
            }
            Err(_) => *errors += 1,
        });
    }

    fn top(&self, n: usize) -> (Vec<i64>, Vec<i64>) {
        let id = scalpel::event::InstrumentId(
            table().all().iter().position(|i| i.venue == self.market.venue() && i.symbol.as_str() == "BTCUSDT").unwrap()
                as u16,
        );
        let book = self.market.book(id).unwrap();
        (book.bids().iter().take(n).map(|(p, _)| p.0).collect(), book.asks().iter().take(n).map(|(p, _)| p.0).collect())
    }
}

fn user_events(parser: &mut BinancePrivateParser, text: &str) -> Vec<PrivateEvent> {
    let mut out = [EMPTY_EVENT; 8];
    let mut bytes = text.as_bytes().to_vec();
    let n =
        parser.user_data(&mut bytes, &table(), &mut out).unwrap_or_else(|e| panic!("our parser refused {text}: {e}"));
    out[..n].to_vec()
}

fn api_events(parser: &mut BinancePrivateParser, text: &str) -> Vec<PrivateEvent> {
    let mut out = [EMPTY_EVENT; 8];
    let mut bytes = text.as_bytes().to_vec();
    let n =
        parser.ws_response(&mut bytes, &table(), &mut out).unwrap_or_else(|e| panic!("our parser refused {text}: {e}"));
    out[..n].to_vec()
}

fn bybit_events(parser: &mut BybitPrivateParser, text: &str) -> Vec<PrivateEvent> {
    let mut out = [EMPTY_EVENT; 8];
    let mut bytes = text.as_bytes().to_vec();
    let n =
        parser.ws_frame(&mut bytes, &table(), &mut out).unwrap_or_else(|e| panic!("our parser refused {text}: {e}"));
    out[..n].to_vec()
}

fn orders_of(events: &[PrivateEvent]) -> Vec<OrderEvent> {
    events.iter().filter_map(|e| if let PrivateEvent::Order(o) = e { Some(*o) } else { None }).collect()
}

/// Best bid of the simulator's BTCUSDT book, as text at tick 0.1.
fn far_bid(sim: &Simulator) -> String {
    let deadline = Instant::now() + T;
    loop {
        if let Some(b) = sim.book("BTCUSDT", 1) {
            let p = b.bids[0].0.0 * 95 / 100 / 10 * 10; // 5% under the bid, on the 0.10 grid
            return format!("{}.{:02}", p / 100, p % 100);
        }
        assert!(Instant::now() < deadline, "the simulator's book never synced");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binance_streams_routes_and_book_consistency() {
    let sim = start(Venue::BinanceUsdm, |_| {});
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();

    // Combined streams on /public, names as subscribed (any diff-depth speed).
    let mut combined =
        ws(&format!("{}/public/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker", urls.ws_url), &ca);
    let (mut depth, mut top) = (0, 0);
    // Every market frame a client gets must decode with our decoders.
    let mut decode_check = OurSide::new(Venue::BinanceUsdm);
    while depth == 0 || top == 0 {
        let v = next_json(&mut combined, T);
        decode_check.feed(&v.to_string());
        match (v["stream"].as_str().unwrap(), v["data"]["e"].as_str().unwrap()) {
            ("btcusdt@depth@100ms", "depthUpdate") => depth += 1,
            ("btcusdt@bookTicker", "bookTicker") => top += 1,
            other => panic!("unexpected {other:?}"),
        }
    }

    // A trade stream on the wrong route is acknowledged and stays silent.
    let mut wrong = ws(&format!("{}/public/ws", urls.ws_url), &ca);
    send(&mut wrong, r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}"#);
    assert_eq!(next_json(&mut wrong, T), json!({"result": null, "id": 7}));
    let mut market = ws(&format!("{}/market/ws/btcusdt@trade", urls.ws_url), &ca);
    let trade = next_json(&mut market, T);
    assert_eq!(trade["e"], "trade", "raw /ws frames are the event itself");
    decode_check.feed(&trade.to_string());
    assert_eq!(decode_check.errors, 0, "our decoder reads combined and raw frames");
    assert!(matches!(next(&mut wrong, Duration::from_millis(1500)), Got::Timeout), "wrong route delivered data");
    send(&mut wrong, r#"{"method":"LIST_SUBSCRIPTIONS","id":8}"#);
    assert_eq!(next_json(&mut wrong, T), json!({"result": ["btcusdt@trade"], "id": 8}));
    send(&mut wrong, r#"{"method":"SUBSCRIBE","params":"btcusdt@trade","id":9}"#);
    assert_eq!(next_json(&mut wrong, T)["error"]["code"], 2);

    // The Binance sync procedure on the diff stream + REST snapshot, in an
    // independent book and in ours; both equal the simulator's next snapshot.
    let mut diffs = ws(&format!("{}/public/ws/btcusdt@depth", urls.ws_url), &ca);
    let first = next_json(&mut diffs, T);
    let mut buffered = vec![first];
    let snap = https("GET", &format!("{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000", urls.rest_url), &[], "", &ca);
    assert_eq!(snap.status, 200);
    assert!(snap.headers.contains_key("x-mbx-used-weight-1m"));
    let snap_text = snap.body.clone();
    let snap = snap.json();
    let last_update_id = snap["lastUpdateId"].as_u64().unwrap();
    let mut ours = OurSide::new(Venue::BinanceUsdm);
    for d in &buffered {
        ours.feed(&d.to_string());
    }
    ours.feed(&snap_text);
    let mut book = RefBook::default();
    book.set("bids", &snap["bids"]);
    book.set("asks", &snap["asks"]);
    let mut last_u = last_update_id;
    let mut synced = false;
    let apply = |book: &mut RefBook, d: &Value, last_u: &mut u64, synced: &mut bool| {
        let (big_u, u, pu) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap(), d["pu"].as_u64().unwrap());
        if u < last_update_id {
            return;
        }
        if !*synced {
            assert!(
                big_u <= last_update_id && last_update_id <= u,
                "first diff bridges the snapshot: U {big_u} id {last_update_id} u {u}"
            );
            *synced = true;
        } else {
            assert_eq!(pu, *last_u, "pu continuity");
        }
        book.set("b", &d["b"]);
        book.set("a", &d["a"]);
        *last_u = u;
    };
    for d in buffered.drain(..) {
        apply(&mut book, &d, &mut last_u, &mut synced);
    }
    while !synced {
        let d = next_json(&mut diffs, T);
        ours.feed(&d.to_string());
        apply(&mut book, &d, &mut last_u, &mut synced);
    }
    let later = https("GET", &format!("{}/fapi/v1/depth?symbol=BTCUSDT&limit=100", urls.rest_url), &[], "", &ca).json();
    let target = later["lastUpdateId"].as_u64().unwrap();
    while last_u < target {
        let d = next_json(&mut diffs, T);
        ours.feed(&d.to_string());
        apply(&mut book, &d, &mut last_u, &mut synced);
    }
    assert_eq!(last_u, target, "REST lastUpdateId is the u of a diff on the stream");
    let (bids, asks) = book.top(100);
    assert_eq!(bids, levels_of(&later["bids"], 100), "bids rebuilt from the stream = the simulator's snapshot");
    assert_eq!(asks, levels_of(&later["asks"], 100));
    assert_eq!((ours.gaps, ours.errors), (0, 0), "our decoder and sync machine accept the stream");
    let (ob, oa) = ours.top(50);
    assert_eq!(ob, bids.iter().take(50).map(|l| l.0).collect::<Vec<_>>(), "our book = the independent book");
    assert_eq!(oa, asks.iter().take(50).map(|l| l.0).collect::<Vec<_>>());

    // Frame write stamps exist for what was published.
    let published = sim.take_published();
    let stamps = sim.take_frame_stamps();
    assert!(!published.is_empty() && !stamps.is_empty());
    assert!(stamps.iter().any(|s| published.iter().any(|p| p.seq == s.seq && p.publish_ns <= s.write_ns)));
    let report = sim.stop();
    assert!(report.frames_written > 0);
    assert_eq!(report.exchange.undecoded_frames, 0);
}

#[test]
fn binance_orders_user_data_and_error_codes() {
    let sim = start(Venue::BinanceUsdm, |_| {});
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let price = far_bid(&sim);
    let mut parser = BinancePrivateParser::new();

    // User data stream first.
    let lk = https("POST", &format!("{}/fapi/v1/listenKey", urls.rest_url), &[("X-MBX-APIKEY", KEY)], "", &ca);
    assert_eq!(lk.status, 200, "{}", lk.body);
    let key = lk.json()["listenKey"].as_str().unwrap().to_owned();
    let mut private = ws(&format!("{}/private/ws?listenKey={key}", urls.ws_url), &ca);

    // WS API place, signed by the test's own HMAC; ids our parser understands.
    let mut api = ws(&urls.ws_api_url, &ca);
    let place = |id: &str, coid: &str, params: Vec<(&str, Value)>| {
        let mut p = vec![
            ("symbol", json!("BTCUSDT")),
            ("side", json!("BUY")),
            ("type", json!("LIMIT")),
            ("timeInForce", json!("GTC")),
            ("quantity", json!("0.002")),
            ("newClientOrderId", json!(coid)),
        ];
        for (k, v) in params {
            p.retain(|(n, _)| *n != k);
            p.push((k, v));
        }
        binance_ws_request(id, "order.place", &p, SECRET)
    };
    send(&mut api, &place("n-1-0", "scalpel-1", vec![("price", json!(price))]));
    let resp = next_json(&mut api, T);
    assert_eq!((resp["id"].as_str(), resp["status"].as_u64()), (Some("n-1-0"), Some(200)), "{resp}");
    assert_eq!(resp["result"]["status"], "NEW");
    assert_eq!(resp["result"]["clientOrderId"], "scalpel-1");
    let limits = resp["rateLimits"].as_array().unwrap();
    assert!(limits.iter().any(|l| l["rateLimitType"] == "ORDERS" && l["interval"] == "SECOND"));
    let events = api_events(&mut parser, &resp.to_string());
    assert!(matches!(events[0], PrivateEvent::RateLimit(_)));
    assert!(matches!(orders_of(&events)[..], [OrderEvent::Acked { client_id: ClientOrderId(1), .. }]));
    let (new, skipped) = until(&mut private, T, |v| v["e"] == "ORDER_TRADE_UPDATE");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!((new["o"]["x"].as_str(), new["o"]["c"].as_str()), (Some("NEW"), Some("scalpel-1")));
    assert!(matches!(orders_of(&user_events(&mut parser, &new.to_string()))[..], [OrderEvent::Acked { .. }]));

    // The venue's error codes, each parsed by our parser into the typed reason.
    let mut bad_sig = place("n-2-0", "scalpel-2", vec![("price", json!(price))]);
    let sig_at = bad_sig.find("\"signature\":\"").unwrap() + 13;
    bad_sig.replace_range(sig_at..sig_at + 4, "0000");
    let cases: Vec<(String, i64, Option<RejectReason>)> = vec![
        (bad_sig, -1022, Some(RejectReason::BadSignature)),
        (place("n-3-0", "scalpel-3", vec![("price", json!(price)), ("symbol", json!("DOGEUSDT"))]), -1121, None),
        (place("n-4-0", "scalpel-4", vec![("price", json!("58000.05"))]), -4014, Some(RejectReason::InvalidPriceOrQty)),
        (
            place("n-5-0", "scalpel-5", vec![("price", json!(price)), ("quantity", json!("0.001"))]),
            -4164,
            Some(RejectReason::MinNotional),
        ),
        (place("n-6-0", "scalpel-6", vec![("price", json!(price)), ("quantity", json!("0.0015"))]), -1111, None),
        (
            place("n-7-0", "scalpel-7", vec![("price", json!(price)), ("quantity", json!("900"))]),
            -2019,
            Some(RejectReason::InsufficientMargin),
        ),
        (place("n-8-0", "scalpel-8", vec![("type", json!("STOP_MARKET"))]), -1020, None),
    ];
    for (request, code, reason) in cases {
        send(&mut api, &request);
        let resp = next_json(&mut api, T);
        assert_eq!(resp["error"]["code"].as_i64(), Some(code), "{resp}");
        assert_eq!(resp["status"], 400);
        let events = api_events(&mut parser, &resp.to_string());
        if let Some(reason) = reason {
            assert!(
                matches!(orders_of(&events)[..], [OrderEvent::Rejected { reason: r, venue_code, .. }] if r == reason && i64::from(venue_code) == code),
                "{events:?}"
            );
        }
    }
    // A stale timestamp: signed correctly, 10 s old.
    let mut p: Vec<(String, Value)> = vec![
        ("apiKey".into(), json!(KEY)),
        ("symbol".into(), json!("BTCUSDT")),
        ("timestamp".into(), json!(now_ms() - 10_000)),
        ("origClientOrderId".into(), json!("scalpel-1")),
    ];
    p.sort_by(|a, b| a.0.cmp(&b.0));
    let payload: Vec<String> =
        p.iter().map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    let sig = hmac_hex(SECRET, &payload.join("&"));
    let mut obj: serde_json::Map<String, Value> = p.into_iter().collect();
    obj.insert("signature".into(), json!(sig));
    send(&mut api, &json!({"id": "c-1-0", "method": "order.cancel", "params": obj}).to_string());
    let resp = next_json(&mut api, T);
    assert_eq!(resp["error"]["code"], -1021, "{resp}");
    assert!(matches!(
        orders_of(&api_events(&mut parser, &resp.to_string()))[..],
        [OrderEvent::ActionRejected { reason: RejectReason::TimestampOutsideRecvWindow, .. }]
    ));

    // REST: a marketable order with the parameters in the body (ccxt's way).
    let body = binance_signed("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&newClientOrderId=scalpel-9", SECRET);
    let r = https(
        "POST",
        &format!("{}/fapi/v1/order", urls.rest_url),
        &[("X-MBX-APIKEY", KEY), ("Content-Type", "application/x-www-form-urlencoded")],
        &body,
        &ca,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.contains_key("x-mbx-order-count-10s") && r.headers.contains_key("x-mbx-order-count-1m"));
    assert_eq!(r.json()["clientOrderId"], "scalpel-9");
    // User data: NEW, then TRADE_LITE + TRADE per fill, then ACCOUNT_UPDATE.
    let mut filled = 0i64;
    let mut saw_lite = false;
    let mut position = None;
    let deadline = Instant::now() + T;
    while position.is_none() {
        assert!(Instant::now() < deadline, "no ACCOUNT_UPDATE");
        let v = next_json(&mut private, T);
        let events = user_events(&mut parser, &v.to_string());
        for e in events {
            match e {
                PrivateEvent::Order(OrderEvent::Filled(f)) if f.fee_kind == FeeKind::NotReported => saw_lite = true,
                PrivateEvent::Order(OrderEvent::Filled(f)) => {
                    assert_eq!(f.client_id, ClientOrderId(9));
                    assert!(!f.is_maker && f.fee.0 > 0);
                    filled += f.qty.0;
                }
                PrivateEvent::Position(p) if filled == 2 => position = Some(p),
                _ => {}
            }
        }
    }
    assert!(saw_lite, "TRADE_LITE seen");
    assert_eq!(position.unwrap().qty.0, 2);
    let risk = https(
        "GET",
        &format!("{}/fapi/v2/positionRisk?{}", urls.rest_url, binance_signed("symbol=BTCUSDT", SECRET)),
        &[("X-MBX-APIKEY", KEY)],
        "",
        &ca,
    );
    assert_eq!(risk.json()[0]["positionAmt"], "0.002", "{}", risk.body);

    // REST cancel of the resting order; the stream reports it.
    let q = binance_signed("symbol=BTCUSDT&origClientOrderId=scalpel-1", SECRET);
    let r = https("DELETE", &format!("{}/fapi/v1/order?{q}", urls.rest_url), &[("X-MBX-APIKEY", KEY)], "", &ca);
    assert_eq!(r.json()["status"], "CANCELED", "{}", r.body);
    let (cancel, skipped) = until(&mut private, T, |v| v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["x"] == "CANCELED");
    for v in skipped {
        user_events(&mut parser, &v.to_string());
    }
    assert!(matches!(
        orders_of(&user_events(&mut parser, &cancel.to_string()))[..],
        [OrderEvent::Cancelled { client_id: ClientOrderId(1), .. }]
    ));
    let again = https(
        "DELETE",
        &format!(
            "{}/fapi/v1/order?{}",
            urls.rest_url,
            binance_signed("symbol=BTCUSDT&origClientOrderId=scalpel-1", SECRET)
        ),
        &[("X-MBX-APIKEY", KEY)],
        "",
        &ca,
    );
    assert_eq!((again.status, again.json()["code"].as_i64()), (400, Some(-2011)));
    let bad = https(
        "GET",
        &format!("{}/fapi/v1/openOrders?{}", urls.rest_url, binance_signed("symbol=BTCUSDT", "wrong-secret")),
        &[("X-MBX-APIKEY", KEY)],
        "",
        &ca,
    );
    assert_eq!((bad.status, bad.json()["code"].as_i64()), (400, Some(-1022)));
    let no_key = https(
        "GET",
        &format!("{}/fapi/v1/openOrders?{}", urls.rest_url, binance_signed("symbol=BTCUSDT", SECRET)),
        &[("X-MBX-APIKEY", "someoneElse")],
        "",
        &ca,
    );
    assert_eq!((no_key.status, no_key.json()["code"].as_i64()), (401, Some(-2015)));

    // Order-read stamps carry the client ids.
    let stamps = sim.take_order_stamps();
    assert!(stamps.iter().any(|s| s.client_order_id.as_str() == "scalpel-1"));
    assert!(stamps.iter().any(|s| s.client_order_id.as_str() == "scalpel-9"));
    let report = sim.stop();
    assert_eq!(report.exchange.fills as i64, report.exchange.taker_fills as i64);
    assert!(report.errors.contains_key("-1022") && report.errors.contains_key("-4164"));
}

#[test]
fn binance_rate_limit_answers_429_then_418() {
    // Stay clear of a minute boundary: the weight window is fixed per minute.
    while now_ms() % 60_000 > 50_000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let sim = start(Venue::BinanceUsdm, |c| c.limits.binance_weight_per_min = 5);
    let ca = sim.ca_file().to_owned();
    let url = format!("{}/fapi/v1/time", sim.urls().rest_url);
    for n in 1..=5 {
        let r = https("GET", &url, &[], "", &ca);
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["x-mbx-used-weight-1m"], n.to_string());
    }
    let r = https("GET", &url, &[], "", &ca);
    assert_eq!((r.status, r.json()["code"].as_i64()), (429, Some(-1003)), "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    let r = https("GET", &url, &[], "", &ca);
    assert_eq!((r.status, r.json()["code"].as_i64()), (418, Some(-1003)), "{}", r.body);
    assert!(r.json()["msg"].as_str().unwrap().contains("IP banned until"));
    // Our REST parser types both.
    let mut parser = BinancePrivateParser::new();
    let tag = scalpel::order::ids::RequestTag::new(scalpel::order::ids::RequestOp::Place, ClientOrderId(1));
    let mut out = [EMPTY_EVENT; 2];
    let mut body = r.body.clone().into_bytes();
    assert_eq!(parser.rest_response(418, &mut body, tag, &table(), &mut out), Ok(1));
    assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Rejected { reason: RejectReason::IpBanned, .. })));
}

#[test]
fn binance_ed25519_session_logon_then_unsigned_orders() {
    use ed25519_dalek::Signer;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
    let sim = start(Venue::BinanceUsdm, |c| {
        c.accounts.push(AccountSpec {
            hmac: None,
            api_key: scalpel::venue::credentials::ApiKey::new(b"edKey1").unwrap(),
            ed25519: Some(signing.verifying_key()),
        });
    });
    let ca = sim.ca_file().to_owned();
    let price = far_bid(&sim);
    let mut api = ws(&sim.urls().ws_api_url, &ca);
    let logon = |key: &str, sk: &ed25519_dalek::SigningKey| {
        let ts = now_ms();
        let sig = base64::engine::general_purpose::STANDARD
            .encode(sk.sign(format!("apiKey={key}&timestamp={ts}").as_bytes()).to_bytes());
        json!({"id": "l-1-0", "method": "session.logon", "params": {"apiKey": key, "timestamp": ts, "signature": sig}})
            .to_string()
    };
    // Another key's signature is refused; an HMAC-only key cannot log on.
    send(&mut api, &logon("edKey1", &ed25519_dalek::SigningKey::from_bytes(&[1u8; 32])));
    assert_eq!(next_json(&mut api, T)["error"]["code"], -1022);
    send(&mut api, &logon(KEY, &signing));
    assert_eq!(next_json(&mut api, T)["error"]["code"], -2015);
    send(&mut api, &logon("edKey1", &signing));
    let resp = next_json(&mut api, T);
    assert_eq!((resp["status"].as_u64(), resp["result"]["apiKey"].as_str()), (Some(200), Some("edKey1")), "{resp}");
    let mut parser = BinancePrivateParser::new();
    assert!(api_events(&mut parser, &resp.to_string()).contains(&PrivateEvent::Session(SessionEvent::Authenticated)));
    // After logon: no apiKey, no signature.
    let order = json!({"id": "n-11-0", "method": "order.place", "params": {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.002",
        "price": price, "newClientOrderId": "scalpel-11", "timestamp": now_ms()}});
    send(&mut api, &order.to_string());
    let resp = next_json(&mut api, T);
    assert_eq!(resp["result"]["status"], "NEW", "{resp}");
    assert!(matches!(
        orders_of(&api_events(&mut parser, &resp.to_string()))[..],
        [OrderEvent::Acked { client_id: ClientOrderId(11), .. }]
    ));
}

fn bybit_trade_create(req_id: &str, args: Value, ts: i64) -> String {
    json!({"reqId": req_id, "header": {"X-BAPI-TIMESTAMP": ts.to_string(), "X-BAPI-RECV-WINDOW": "5000"}, "op": "order.create", "args": [args]}).to_string()
}

#[test]
fn bybit_streams_orders_user_data_and_error_codes() {
    let sim = start(Venue::BybitLinear, |_| {});
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let price = far_bid(&sim);

    // Public: subscribe, snapshot first, then consecutive deltas.
    let mut public = ws(&format!("{}/v5/public/linear", urls.ws_url), &ca);
    send(
        &mut public,
        r#"{"req_id":"s1","op":"subscribe","args":["orderbook.200.BTCUSDT","tickers.BTCUSDT","publicTrade.BTCUSDT"]}"#,
    );
    let ack = next_json(&mut public, T);
    assert_eq!(
        (ack["success"].as_bool(), ack["op"].as_str(), ack["req_id"].as_str()),
        (Some(true), Some("subscribe"), Some("s1")),
        "{ack}"
    );
    let mut ours = OurSide::new(Venue::BybitLinear);
    let (snap, before) = until(&mut public, T, |v| v["topic"] == "orderbook.200.BTCUSDT");
    assert!(before.iter().all(|v| v["topic"] != "orderbook.200.BTCUSDT"));
    assert_eq!(snap["type"], "snapshot", "the first book message is a snapshot");
    ours.feed(&snap.to_string());
    let mut book = RefBook::default();
    book.set("b", &snap["data"]["b"]);
    book.set("a", &snap["data"]["a"]);
    let mut u = snap["data"]["u"].as_u64().unwrap();
    let (ticker, others) = until(&mut public, T, |v| v["topic"] == "tickers.BTCUSDT" && v["type"] == "snapshot");
    ours.feed(&ticker.to_string());
    for v in &others {
        if v["topic"] != "orderbook.200.BTCUSDT" {
            ours.feed(&v.to_string());
        }
        if v["topic"] == "orderbook.200.BTCUSDT" {
            assert_eq!(v["data"]["u"].as_u64().unwrap(), u + 1);
            book.set("b", &v["data"]["b"]);
            book.set("a", &v["data"]["a"]);
            u += 1;
            ours.feed(&v.to_string());
        }
    }
    send(&mut public, r#"{"req_id":"p1","op":"ping"}"#);
    let mut pong = None;
    let mut trades = 0;
    let rest = https(
        "GET",
        &format!("{}/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=50", urls.rest_url),
        &[],
        "",
        &ca,
    )
    .json();
    assert_eq!(rest["retCode"], 0);
    let target = rest["result"]["u"].as_u64().unwrap();
    while u < target || pong.is_none() || trades == 0 {
        let v = next_json(&mut public, T);
        if v["op"] == "ping" {
            pong = Some(v);
            continue;
        }
        if v["topic"] == "publicTrade.BTCUSDT" {
            trades += 1;
        }
        ours.feed(&v.to_string());
        if v["topic"] == "orderbook.200.BTCUSDT" {
            assert_eq!(v["data"]["u"].as_u64().unwrap(), u + 1, "consecutive u");
            book.set("b", &v["data"]["b"]);
            book.set("a", &v["data"]["a"]);
            u += 1;
        }
    }
    assert_eq!(u, target);
    let (bids, asks) = book.top(50);
    assert_eq!(bids, levels_of(&rest["result"]["b"], 50), "book rebuilt from the stream = REST snapshot");
    assert_eq!(asks, levels_of(&rest["result"]["a"], 50));
    assert_eq!((ours.gaps, ours.errors), (0, 0), "our decoder and sync machine accept the stream");
    let pong = pong.unwrap();
    assert_eq!(
        (pong["success"].as_bool(), pong["ret_msg"].as_str(), pong["req_id"].as_str()),
        (Some(true), Some("pong"), Some("p1"))
    );
    send(&mut public, r#"{"req_id":"s2","op":"subscribe","args":["orderbook.1000.BTCUSDT"]}"#);
    let (refused, _) = until(&mut public, T, |v| v["op"] == "subscribe");
    assert_eq!(refused["success"], false, "deeper than the input's book");
    assert!(refused["ret_msg"].as_str().unwrap().contains("not simulate"), "{refused}");

    // Smaller depths are derived from the simulator's book: on one socket,
    // after each orderbook.50 / orderbook.1 message, that book equals the
    // top of the orderbook.200 book rebuilt from the same socket.
    let mut derived = ws(&format!("{}/v5/public/linear", urls.ws_url), &ca);
    send(
        &mut derived,
        r#"{"op":"subscribe","args":["orderbook.200.BTCUSDT","orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}"#,
    );
    assert_eq!(next_json(&mut derived, T)["success"], true);
    let mut books: BTreeMap<String, (RefBook, u64)> = BTreeMap::new();
    let mut ours50 = OurSide::new(Venue::BybitLinear);
    let mut checked = 0;
    while checked < 40 {
        let v = next_json(&mut derived, T);
        let topic = v["topic"].as_str().unwrap().to_owned();
        let u = v["data"]["u"].as_u64().unwrap();
        let entry = books.entry(topic.clone()).or_insert_with(|| (RefBook::default(), 0));
        if v["type"] == "snapshot" {
            *entry = (RefBook::default(), u);
        } else {
            assert_eq!(u, entry.1 + 1, "{topic}: consecutive u");
            entry.1 = u;
        }
        entry.0.set("b", &v["data"]["b"]);
        entry.0.set("a", &v["data"]["a"]);
        if topic == "orderbook.50.BTCUSDT" {
            ours50.feed(&v.to_string());
        }
        if topic != "orderbook.200.BTCUSDT" {
            let depth = if topic.starts_with("orderbook.50.") { 50 } else { 1 };
            let full = books["orderbook.200.BTCUSDT"].0.top(depth);
            let mine = books[&topic].0.top(depth);
            assert_eq!(mine, full, "{topic} = top {depth} of orderbook.200 after u {u}");
            assert_eq!(
                books[&topic].0.bids.len().max(books[&topic].0.asks.len()),
                depth,
                "{topic} holds exactly {depth} levels"
            );
            checked += 1;
        }
    }
    assert_eq!((ours50.gaps, ours50.errors), (0, 0), "our decoder and sync machine accept a derived book");

    // Private stream.
    let mut parser = BybitPrivateParser::new();
    let mut private = ws(&format!("{}/v5/private", urls.ws_url), &ca);
    send(&mut private, r#"{"req_id":"x","op":"subscribe","args":["order"]}"#);
    assert_eq!(next_json(&mut private, T)["success"], false, "subscribing before auth is refused");
    send(&mut private, &bybit_auth(SECRET));
    let auth = next_json(&mut private, T);
    assert_eq!(auth["success"], true, "{auth}");
    assert_eq!(bybit_events(&mut parser, &auth.to_string()), [PrivateEvent::Session(SessionEvent::Authenticated)]);
    send(&mut private, r#"{"req_id":"s3","op":"subscribe","args":["order","execution","position","wallet"]}"#);
    assert_eq!(next_json(&mut private, T)["success"], true);

    // Trade socket: bad auth first, then good.
    let mut bad = ws(&urls.ws_api_url, &ca);
    send(&mut bad, &bybit_auth("wrong-secret"));
    let resp = next_json(&mut bad, T);
    assert_eq!(resp["retCode"], 10004, "{resp}");
    assert!(matches!(
        bybit_events(&mut parser, &resp.to_string())[..],
        [PrivateEvent::Session(SessionEvent::AuthRejected { reason: RejectReason::BadSignature, .. })]
    ));
    let mut trade = ws(&urls.ws_api_url, &ca);
    send(&mut trade, &bybit_auth(SECRET));
    assert_eq!(next_json(&mut trade, T)["retCode"], 0);
    let args = |link: &str, extra: Vec<(&str, Value)>| {
        let mut a = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.002", "price": price, "timeInForce": "GTC", "orderLinkId": link});
        for (k, v) in extra {
            a[k] = v;
        }
        a
    };
    send(&mut trade, &bybit_trade_create("n-1-0", args("scalpel-1", vec![]), now_ms()));
    let resp = next_json(&mut trade, T);
    assert_eq!((resp["retCode"].as_i64(), resp["op"].as_str()), (Some(0), Some("order.create")), "{resp}");
    assert!(resp["header"]["X-Bapi-Limit"].is_string() && resp["header"]["X-Bapi-Limit-Status"].is_string());
    let events = bybit_events(&mut parser, &resp.to_string());
    assert!(matches!(events[0], PrivateEvent::RateLimit(_)));
    assert!(matches!(orders_of(&events)[..], [OrderEvent::Acked { client_id: ClientOrderId(1), .. }]));
    let (o, skipped) = until(&mut private, T, |v| v["topic"] == "order");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(o["data"][0]["orderStatus"], "New");
    assert!(matches!(orders_of(&bybit_events(&mut parser, &o.to_string()))[..], [OrderEvent::Acked { .. }]));

    for (req, code) in [
        (bybit_trade_create("n-2-0", args("scalpel-2", vec![]), now_ms() - 20_000), 10002),
        (bybit_trade_create("n-3-0", args("scalpel-3", vec![("symbol", json!("DOGEUSDT"))]), now_ms()), 10001),
        (
            bybit_trade_create(
                "n-4-0",
                args("scalpel-4", vec![("qty", json!("0.001")), ("price", json!("100.0"))]),
                now_ms(),
            ),
            110_094,
        ),
        (bybit_trade_create("n-5-0", args("scalpel-5", vec![("qty", json!("1000"))]), now_ms()), 110_007),
        (bybit_trade_create("n-1-0", args("scalpel-6", vec![]), now_ms()), 20006),
    ] {
        send(&mut trade, &req);
        let resp = next_json(&mut trade, T);
        assert_eq!(resp["retCode"].as_i64(), Some(code), "{resp}");
    }

    // REST market order; the private stream reports order, execution, position, wallet.
    let body = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.002", "orderLinkId": "scalpel-7"}).to_string();
    let h = bybit_headers(&body, SECRET);
    let r = https("POST", &format!("{}/v5/order/create", urls.rest_url), &as_refs(&h), &body, &ca);
    assert_eq!(r.json()["retCode"], 0, "{}", r.body);
    assert!(r.headers.contains_key("x-bapi-limit-status"));
    let mut filled = 0;
    let mut topics = std::collections::HashSet::new();
    let deadline = Instant::now() + T;
    while !(filled == 2 && topics.contains("position") && topics.contains("wallet")) {
        assert!(Instant::now() < deadline, "private stream incomplete: {topics:?} filled {filled}");
        let v = next_json(&mut private, T);
        topics.insert(v["topic"].as_str().unwrap().to_owned());
        for e in bybit_events(&mut parser, &v.to_string()) {
            match e {
                PrivateEvent::Order(OrderEvent::Filled(f)) => {
                    assert_eq!(f.client_id, ClientOrderId(7));
                    filled += f.qty.0;
                }
                PrivateEvent::Position(p) => assert_eq!(p.qty.0, 2),
                _ => {}
            }
        }
    }
    // Cancel over REST; a bad REST signature is 10004.
    let body = json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "scalpel-1"}).to_string();
    let r = https(
        "POST",
        &format!("{}/v5/order/cancel", urls.rest_url),
        &as_refs(&bybit_headers(&body, SECRET)),
        &body,
        &ca,
    );
    assert_eq!(r.json()["retCode"], 0, "{}", r.body);
    let (c, skipped) = until(&mut private, T, |v| v["topic"] == "order" && v["data"][0]["orderStatus"] == "Cancelled");
    for v in skipped {
        bybit_events(&mut parser, &v.to_string());
    }
    assert!(matches!(
        orders_of(&bybit_events(&mut parser, &c.to_string()))[..],
        [OrderEvent::Cancelled { client_id: ClientOrderId(1), .. }]
    ));
    let r = https(
        "POST",
        &format!("{}/v5/order/cancel", urls.rest_url),
        &as_refs(&bybit_headers(&body, "wrong")),
        &body,
        &ca,
    );
    assert_eq!(r.json()["retCode"], 10004);
    let q = "category=linear&symbol=BTCUSDT";
    let pos =
        https("GET", &format!("{}/v5/position/list?{q}", urls.rest_url), &as_refs(&bybit_headers(q, SECRET)), "", &ca)
            .json();
    assert_eq!(pos["result"]["list"][0]["size"], "0.002", "{pos}");
    let report = sim.stop();
    assert!(report.errors.contains_key("10004") && report.errors.contains_key("110094"));
}

/// A simulator with a fault plan.
fn faulty(venue: Venue, spec: &str) -> Simulator {
    start(venue, |c| {
        c.faults = FaultPlan::parse(spec).unwrap();
        c.heartbeat.ping_interval = Duration::from_millis(300);
    })
}

/// Reads until the connection ends; what ended it.
fn read_to_end(ws: &mut Ws) -> Got {
    loop {
        match next(ws, T) {
            Got::Text(_) => continue,
            other => return other,
        }
    }
}

#[test]
fn faults_on_market_streams_are_injected_counted_and_seen() {
    // gap: the client sees pu != previous u, once per injected gap.
    let sim = faulty(Venue::BinanceUsdm, "gap:nth=10:route=public");
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/public/ws/btcusdt@depth", sim.urls().ws_url), &ca);
    let mut last: Option<u64> = None;
    let mut gaps = 0;
    for _ in 0..30 {
        let d = next_json(&mut s, T);
        if let Some(l) = last {
            if d["pu"].as_u64().unwrap() != l {
                gaps += 1;
            }
        }
        last = d["u"].as_u64();
    }
    assert!(gaps >= 2, "client saw {gaps} gaps");
    assert!(sim.faults_injected(FaultKind::Gap) >= gaps, "every gap seen was injected and counted");
    drop(sim);

    // disconnect at a time (no close frame); lifetime (a close frame at the age limit).
    let sim = faulty(Venue::BybitLinear, "disconnect:at=1500ms:route=public,lifetime:for=1s:route=private");
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let mut public = ws(&format!("{}/v5/public/linear", urls.ws_url), &ca);
    send(&mut public, r#"{"op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.200.BTCUSDT"]}"#);
    let mut private = ws(&format!("{}/v5/private", urls.ws_url), &ca);
    let end = read_to_end(&mut private);
    assert!(matches!(end, Got::Closed(Some(1000))), "lifetime closes with a close frame: {end:?}");
    let end = read_to_end(&mut public);
    assert!(matches!(end, Got::Reset | Got::Closed(None)), "dropped without a close frame: {end:?}");
    assert_eq!(sim.faults_injected(FaultKind::Disconnect), 1);
    assert_eq!(sim.faults_injected(FaultKind::Lifetime), 1);
    drop(sim);

    // stall: no frames for its duration, then the stream resumes.
    let sim = faulty(Venue::BinanceUsdm, "stall:at=1s:for=2s:route=public");
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/public/ws/btcusdt@bookTicker", sim.urls().ws_url), &ca);
    let mut longest = Duration::ZERO;
    let mut prev = Instant::now();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(3500) {
        if let Got::Text(_) = next(&mut s, T) {
            longest = longest.max(prev.elapsed());
            prev = Instant::now();
        }
    }
    assert!(longest >= Duration::from_millis(1800), "stalled for {longest:?}");
    assert_eq!(sim.faults_injected(FaultKind::Stall), 1);
    // Server pings were answered by tungstenite all along: nothing timed out.
    let report = sim.report();
    assert!(report.counters["pings_sent"] > 0);
    assert_eq!(report.counters["pong_timeouts"], 0);
    assert!(report.frames_stalled > 0);
}

/// Six `time` requests on the WS API; the reply ids in arrival order.
fn reply_order(spec: &str) -> (Vec<i64>, Simulator) {
    let sim = faulty(Venue::BinanceUsdm, spec);
    let mut api = ws(&sim.urls().ws_api_url, sim.ca_file());
    for n in 1..=6 {
        send(&mut api, &json!({"id": n, "method": "time"}).to_string());
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut ids = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        if let Got::Text(t) = next(&mut api, Duration::from_millis(300)) {
            ids.push(serde_json::from_str::<Value>(&t).unwrap()["id"].as_i64().unwrap());
        }
    }
    (ids, sim)
}

#[test]
fn faults_on_private_messages_are_injected_counted_and_seen() {
    let (ids, sim) = reply_order("duplicate:nth=2:route=orders");
    assert_eq!(ids, [1, 2, 2, 3, 4, 4, 5, 6, 6], "every 2nd reply duplicated");
    assert_eq!(sim.faults_injected(FaultKind::Duplicate), 3);
    let (ids, sim) = reply_order("delay:nth=2:for=400ms:route=orders");
    assert_eq!(ids.len(), 6, "{ids:?}");
    let pos = |x: i64| ids.iter().position(|&i| i == x).unwrap();
    assert!(pos(2) > pos(3) && pos(4) > pos(5), "delayed replies overtaken: {ids:?}");
    assert_eq!(sim.faults_injected(FaultKind::Delay), 3);
    let (ids, sim) = reply_order("reorder:nth=3:route=orders");
    assert_eq!(ids, [1, 2, 4, 3, 5, 6], "the 3rd reply held for the next");
    assert_eq!(sim.faults_injected(FaultKind::Reorder), 1, "the 4th reply released the held one, so only one was held");
}

#[test]
fn faults_on_requests_are_injected_counted_and_seen() {
    // 429 then an injected ban (418) that ends.
    let sim = faulty(Venue::BinanceUsdm, "rate-limit:nth=2:route=rest,ban:nth=3:for=1s:route=rest");
    let ca = sim.ca_file().to_owned();
    let time = format!("{}/fapi/v1/time", sim.urls().rest_url);
    let statuses: Vec<u16> = (0..4).map(|_| https("GET", &time, &[], "", &ca).status).collect();
    assert_eq!(statuses, [200, 429, 418, 418], "429 injected, then a 1 s ban");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(https("GET", &time, &[], "", &ca).status, 200, "the ban ends");
    assert_eq!((sim.faults_injected(FaultKind::RateLimit), sim.faults_injected(FaultKind::Ban)), (1, 1));
    drop(sim);

    // order-drop: executed, then the socket closes before the response.
    let sim = faulty(Venue::BinanceUsdm, "order-drop:nth=1");
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let key = https("POST", &format!("{}/fapi/v1/listenKey", urls.rest_url), &[("X-MBX-APIKEY", KEY)], "", &ca).json()
        ["listenKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut private = ws(&format!("{}/private/ws/{key}", urls.ws_url), &ca);
    let price = far_bid(&sim);
    let mut api = ws(&urls.ws_api_url, &ca);
    let req = binance_ws_request(
        "n-1-0",
        "order.place",
        &[
            ("symbol", json!("BTCUSDT")),
            ("side", json!("BUY")),
            ("type", json!("LIMIT")),
            ("timeInForce", json!("GTC")),
            ("quantity", json!("0.002")),
            ("price", json!(price)),
            ("newClientOrderId", json!("scalpel-1")),
        ],
        SECRET,
    );
    send(&mut api, &req);
    assert!(matches!(next(&mut api, T), Got::Reset | Got::Closed(None)), "socket dropped mid-order");
    assert_eq!(sim.faults_injected(FaultKind::OrderDrop), 1);
    let (new, _) = until(&mut private, T, |v| v["e"] == "ORDER_TRADE_UPDATE");
    assert_eq!(new["o"]["c"], "scalpel-1", "the order was executed");
    let q = binance_signed("symbol=BTCUSDT&origClientOrderId=scalpel-1", SECRET);
    let o = https("GET", &format!("{}/fapi/v1/order?{q}", urls.rest_url), &[("X-MBX-APIKEY", KEY)], "", &ca).json();
    assert_eq!(o["status"], "NEW", "{o}");
    assert!(sim.fault_log().iter().any(|e| e.kind == FaultKind::OrderDrop && e.detail.contains("n-1-0")));
    drop(sim);

    // listenKey expiry: the event, then the stream closes, then the key is unknown.
    let sim = faulty(Venue::BinanceUsdm, "listenkey-expire:every=1s");
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let key = https("POST", &format!("{}/fapi/v1/listenKey", urls.rest_url), &[("X-MBX-APIKEY", KEY)], "", &ca).json()
        ["listenKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut private = ws(&format!("{}/private/ws?listenKey={key}", urls.ws_url), &ca);
    let (expired, _) = until(&mut private, T, |v| v["e"] == "listenKeyExpired");
    assert_eq!(expired["listenKey"], key.as_str());
    let mut parser = BinancePrivateParser::new();
    assert_eq!(user_events(&mut parser, &expired.to_string()), [], "our parser accepts it (no order event)");
    assert!(matches!(read_to_end(&mut private), Got::Closed(_)));
    assert!(sim.faults_injected(FaultKind::ListenKeyExpire) >= 1);
    let put = https(
        "PUT",
        &format!("{}/fapi/v1/listenKey?listenKey={key}", urls.rest_url),
        &[("X-MBX-APIKEY", KEY)],
        "",
        &ca,
    );
    assert_eq!(put.json()["code"], -1125, "the expired key is gone");
}

#[test]
fn bybit_order_rate_limit_answers_10006_with_limit_headers() {
    let sim = start(Venue::BybitLinear, |c| c.limits.bybit_orders_per_s = 3);
    let ca = sim.ca_file().to_owned();
    let price = far_bid(&sim);
    let mut codes = Vec::new();
    let mut remaining = Vec::new();
    for n in 0..8 {
        let body = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.002", "price": price, "orderLinkId": format!("burst-{n}")}).to_string();
        let r = https(
            "POST",
            &format!("{}/v5/order/create", sim.urls().rest_url),
            &as_refs(&bybit_headers(&body, SECRET)),
            &body,
            &ca,
        );
        assert_eq!(r.headers["x-bapi-limit"], "3");
        remaining.push(r.headers["x-bapi-limit-status"].clone());
        codes.push(r.json()["retCode"].as_i64().unwrap());
    }
    assert!(codes.contains(&10006), "{codes:?}");
    assert!(remaining.contains(&"0".to_owned()), "{remaining:?}");
    let mut parser = BybitPrivateParser::new();
    let tag = scalpel::order::ids::RequestTag::new(scalpel::order::ids::RequestOp::Place, ClientOrderId(1));
    let mut out = [EMPTY_EVENT; 2];
    let mut body = br#"{"retCode":10006,"retMsg":"Too many visits. Exceeded the API Rate Limit.","result":{},"retExtInfo":{},"time":1}"#.to_vec();
    assert_eq!(parser.rest_response(200, &mut body, tag, &mut out), Ok(1));
    assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Rejected { reason: RejectReason::RateLimited, .. })));
}

#[test]
fn heartbeat_rules_close_silent_connections() {
    // Binance: a client that never answers pings is closed after the pong timeout.
    let sim = start(Venue::BinanceUsdm, |c| {
        c.heartbeat.ping_interval = Duration::from_millis(200);
        c.heartbeat.pong_timeout = Duration::from_millis(600);
    });
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/public/ws/btcusdt@bookTicker", sim.urls().ws_url), &ca);
    // Read without letting tungstenite answer: stop reading for a while.
    std::thread::sleep(Duration::from_millis(1200));
    let end = loop {
        match next(&mut s, T) {
            Got::Text(_) => continue,
            other => break other,
        }
    };
    // The close frame (1008) may not be read: tungstenite answers the
    // queued pings first and finds the socket gone. The counter says why.
    assert!(matches!(end, Got::Closed(Some(1008)) | Got::Reset), "{end:?}");
    assert_eq!(sim.report().counters["pong_timeouts"], 1);
    drop(sim);
    // Bybit: a connection that sends nothing is closed after the idle timeout.
    let sim = start(Venue::BybitLinear, |c| c.heartbeat.idle_timeout = Duration::from_millis(800));
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/v5/public/linear", sim.urls().ws_url), &ca);
    let t0 = Instant::now();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        send(&mut s, r#"{"op":"ping"}"#);
        assert_eq!(next_json(&mut s, T)["ret_msg"], "pong");
    }
    assert!(t0.elapsed() > Duration::from_millis(1000), "pinging kept it alive past the idle timeout");
    assert!(matches!(next(&mut s, Duration::from_secs(3)), Got::Reset | Got::Closed(_)), "silence closes it");
    assert_eq!(sim.report().counters["idle_closes"], 1);
}

fn replay(venue: Venue, file: &std::path::Path, speed: f64) -> Simulator {
    let table = scalpel::commands::instruments::load(None, venue).unwrap();
    let mut cfg = SimConfig::new(venue, MarketInput::Recordings(vec![file.to_owned()]), table);
    cfg.speed = speed;
    Simulator::start(cfg).expect("simulator starts")
}

#[test]
fn recorded_binance_frames_are_served_byte_for_byte() {
    let Some(path) =
        common::recording("recorded_binance_frames_are_served_byte_for_byte", "binance-usdm/btcusdt_20240808.gz")
    else {
        return;
    };
    let lines = common::read_lines(&path);
    let sim = replay(Venue::BinanceUsdm, &path, 10.0);
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/public/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker", sim.urls().ws_url), &ca);
    let mut raw = ws(&format!("{}/market/ws/btcusdt@trade", sim.urls().ws_url), &ca);
    let wanted: Vec<&[u8]> = lines
        .iter()
        .map(|(_, f)| f.as_slice())
        .filter(|f| {
            f.starts_with(b"{\"stream\":\"btcusdt@depth@0ms\"") || f.starts_with(b"{\"stream\":\"btcusdt@bookTicker\"")
        })
        .collect();
    let Got::Text(first) = next(&mut s, T) else { panic!("no frame") };
    let mut k = wanted.iter().position(|f| *f == first.as_bytes()).expect("the first frame is a recorded line");
    for _ in 0..2000 {
        k += 1;
        let Got::Text(t) = next(&mut s, T) else { panic!("stream ended") };
        assert_eq!(t.as_bytes(), wanted[k], "frame {k} differs from the recording");
    }
    // Raw /ws frames are the recorded `data` objects.
    let Got::Text(t) = next(&mut raw, T) else { panic!("no trade") };
    let needle = format!("{{\"stream\":\"btcusdt@trade\",\"data\":{t}}}");
    assert!(lines.iter().any(|(_, f)| f == needle.as_bytes()), "trade frame is a recorded data object");
    let report = sim.stop();
    assert_eq!(report.exchange.undecoded_frames, 0);
    assert_eq!(report.exchange.input_gaps, 0);
}

#[test]
fn recorded_bybit_frames_are_served_byte_for_byte() {
    let Some(path) =
        common::recording("recorded_bybit_frames_are_served_byte_for_byte", "bybit-linear/btcusdt_20260809.gz")
    else {
        return;
    };
    let lines = common::read_lines(&path);
    let sim = replay(Venue::BybitLinear, &path, 4.0);
    let ca = sim.ca_file().to_owned();
    let mut s = ws(&format!("{}/v5/public/linear", sim.urls().ws_url), &ca);
    send(&mut s, r#"{"op":"subscribe","args":["orderbook.200.BTCUSDT"]}"#);
    assert_eq!(next_json(&mut s, T)["success"], true);
    let snap = next_json(&mut s, T);
    assert_eq!(snap["type"], "snapshot");
    let mut ours = OurSide::new(Venue::BybitLinear);
    ours.feed(&snap.to_string());
    let book_lines: Vec<&[u8]> = lines
        .iter()
        .map(|(_, f)| f.as_slice())
        .filter(|f| f.starts_with(b"{\"topic\":\"orderbook.200.BTCUSDT\""))
        .collect();
    let mut count = 0;
    while count < 150 {
        let Got::Text(t) = next(&mut s, T) else { break };
        assert!(book_lines.contains(&t.as_bytes()), "a delta that is not a recorded line: {t}");
        ours.feed(&t);
        count += 1;
    }
    assert!(count >= 100, "only {count} deltas");
    assert_eq!((ours.gaps, ours.errors), (0, 0), "the generated snapshot bridges to the recorded deltas");
}

fn scalpel() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"))
}

#[test]
fn cli_prints_urls_serves_signed_clients_and_reports_on_sigterm() {
    use ed25519_dalek::Signer;
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("scalpel-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let signing = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let pem = signing.verifying_key().to_public_key_pem(Default::default()).unwrap();
    std::fs::write(dir.join("ed.pem"), pem).unwrap();
    let ca_out = dir.join("ca.pem");
    let mut child = scalpel()
        .args(["sim", "--venue", "binance-usdm", "--api-key", KEY, "--secret-env", "SIM_CLI_SECRET"])
        .args(["--ed25519-pubkey", dir.join("ed.pem").to_str().unwrap(), "--ca-out", ca_out.to_str().unwrap()])
        .args(["--synth-secs", "120", "--order-latency", "500us"])
        .env("SIM_CLI_SECRET", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let facts: Value = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "no JSON line; got {lines:?}");
        if line.starts_with('{') {
            break serde_json::from_str(&line).unwrap();
        }
        lines.push(line);
    };
    let text = lines.join("");
    let rest = facts["rest_url"].as_str().unwrap();
    assert!(text.contains(&format!("--rest-url {rest}")) && text.contains("--ws-url wss://127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("--ca-file {}", ca_out.display())) && text.contains("--ws-api-url wss://"),
        "{text}"
    );
    assert_eq!(facts["ca_file"], ca_out.to_str().unwrap());
    assert_eq!(https("GET", &format!("{rest}/fapi/v1/ping"), &[], "", &ca_out).body, "{}");
    // session.logon with the key file's pair, then an unsigned order request.
    let mut api = ws(facts["ws_api_url"].as_str().unwrap(), &ca_out);
    let ts = now_ms();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(signing.sign(format!("apiKey={KEY}&timestamp={ts}").as_bytes()).to_bytes());
    send(
        &mut api,
        &json!({"id": 1, "method": "session.logon", "params": {"apiKey": KEY, "timestamp": ts, "signature": sig}})
            .to_string(),
    );
    assert_eq!(next_json(&mut api, T)["status"], 200);
    send(&mut api, &json!({"id": 2, "method": "order.place", "params": {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002", "timestamp": now_ms()}}).to_string());
    let placed = next_json(&mut api, T);
    assert_eq!(placed["status"], 200, "{placed}");
    assert_eq!(placed["result"]["clientOrderId"].as_str().unwrap().len(), 22, "a generated client order id");
    // SIGTERM: the final report on stdout, a summary on stderr, exit 0.
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut rest_out = String::new();
    out.read_to_string(&mut rest_out).unwrap();
    let report: Value = serde_json::from_str(rest_out.lines().last().unwrap()).unwrap();
    assert_eq!(report["exchange"]["orders_accepted"], 1);
    assert!(report["exchange"]["fills"].as_u64().unwrap() >= 1);
    assert_eq!(report["accounts"][0]["positions"]["BTCUSDT"], "0.002");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("1 orders accepted"), "{err}");
    assert!(
        !err.contains(SECRET) && !rest_out.contains(SECRET) && !text.contains(SECRET),
        "the secret is never printed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_refuses_bad_options_with_one_line_naming_them() {
    for (args, needle) in [
        (vec!["--faults", "gap:p=2"], "--faults"),
        (vec!["--api-key", KEY, "--secret-env", "SCALPEL_SIM_UNSET_VAR"], "SCALPEL_SIM_UNSET_VAR is not set"),
        (vec!["--api-key", KEY], "--secret-env"),
        (vec!["--speed", "0"], "--speed"),
        (vec!["--order-latency", "fast"], "--order-latency"),
        (vec!["--input", "/nonexistent/recording.gz"], "/nonexistent/recording.gz"),
        (vec!["--pong-timeout", "1ms"], "--pong-timeout"),
        (vec!["--synth-symbols", "DOGEUSDT"], "DOGEUSDT"),
    ] {
        let out = scalpel().args(["sim", "--venue", "binance-usdm", "--duration", "1s"]).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Synthetic-session options with a recording are refused, not ignored
    // (a clap usage error: its first line names both).
    let out =
        scalpel().args(["sim", "--venue", "binance-usdm", "--input", "x.gz", "--synth-secs", "5"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().next().is_some_and(|l| l.contains("--synth-secs") && l.contains("--input")), "{err}");
}

#[test]
fn dead_man_switches_cancel_orders() {
    // Binance countdownCancelAll.
    let sim = start(Venue::BinanceUsdm, |_| {});
    let ca = sim.ca_file().to_owned();
    let rest = sim.urls().rest_url.clone();
    let price = far_bid(&sim);
    let key = [("X-MBX-APIKEY", KEY)];
    let body = binance_signed(
        &format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.002&price={price}&newClientOrderId=dm-1"
        ),
        SECRET,
    );
    assert_eq!(https("POST", &format!("{rest}/fapi/v1/order?{body}"), &key, "", &ca).status, 200);
    let r = https(
        "POST",
        &format!("{rest}/fapi/v1/countdownCancelAll?{}", binance_signed("symbol=BTCUSDT&countdownTime=400", SECRET)),
        &key,
        "",
        &ca,
    );
    assert_eq!(r.json(), json!({"symbol": "BTCUSDT", "countdownTime": "400"}));
    std::thread::sleep(Duration::from_millis(700));
    let q = binance_signed("symbol=BTCUSDT&origClientOrderId=dm-1", SECRET);
    assert_eq!(https("GET", &format!("{rest}/fapi/v1/order?{q}"), &key, "", &ca).json()["status"], "CANCELED");
    drop(sim);

    // Bybit disconnection protection on the trade socket.
    let sim = start(Venue::BybitLinear, |_| {});
    let ca = sim.ca_file().to_owned();
    let urls = sim.urls().clone();
    let price = far_bid(&sim);
    let body = json!({"timeWindow": 3}).to_string();
    let r = https(
        "POST",
        &format!("{}/v5/order/disconnected-cancel-all", urls.rest_url),
        &as_refs(&bybit_headers(&body, SECRET)),
        &body,
        &ca,
    );
    assert_eq!(r.json()["retCode"], 0, "{}", r.body);
    let mut trade = ws(&urls.ws_api_url, &ca);
    send(&mut trade, &bybit_auth(SECRET));
    assert_eq!(next_json(&mut trade, T)["retCode"], 0);
    let args = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.002", "price": price, "orderLinkId": "dm-2"});
    send(&mut trade, &bybit_trade_create("r1", args, now_ms()));
    assert_eq!(next_json(&mut trade, T)["retCode"], 0);
    drop(trade);
    let q = "category=linear&symbol=BTCUSDT&orderLinkId=dm-2";
    let status = |q: &str| {
        https("GET", &format!("{}/v5/order/realtime?{q}", urls.rest_url), &as_refs(&bybit_headers(q, SECRET)), "", &ca)
            .json()["result"]["list"][0]["orderStatus"]
            .clone()
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sim.report().connections_open, 0, "a client that went away has left the registry");
    assert_eq!(status(q), "New", "still working inside the window");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(status(q), "Cancelled", "cancelled after the window");
}

/// Panics on the simulator's own threads (tokio workers, the feed thread):
/// a spawned task's panic would not fail a test by itself.
static SIM_THREAD_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count_sim_thread_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("scalpel-sim")) {
                SIM_THREAD_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

#[test]
fn garbage_from_clients_is_answered_and_counted_never_a_panic() {
    count_sim_thread_panics();
    for venue in [Venue::BinanceUsdm, Venue::BybitLinear] {
        let sim = start(venue, |_| {});
        let ca = sim.ca_file().to_owned();
        let urls = sim.urls().clone();
        let garbage: Vec<String> = vec![
            "not json".into(),
            "{}".into(),
            "[]".into(),
            "{\"id\":1}".into(),
            "{\"method\":\"SUBSCRIBE\",\"params\":[1,2],\"id\":{}}".into(),
            "{\"op\":\"subscribe\",\"args\":\"x\"}".into(),
            json!({"id": "n-1-0", "method": "order.place", "params": {"timestamp": i64::MIN, "apiKey": KEY, "signature": "00"}}).to_string(),
            binance_ws_request("n-2-0", "order.place", &[("symbol", json!("BTCUSDT")), ("side", json!("BUY")), ("type", json!("LIMIT")), ("timeInForce", json!("GTC")), ("quantity", json!("99999999999999999999999")), ("price", json!("1e30"))], SECRET),
            json!({"reqId": "r", "header": {"X-BAPI-TIMESTAMP": i64::MIN.to_string()}, "op": "order.create", "args": [{"qty": "-1"}]}).to_string(),
            json!({"op": "auth", "args": [KEY, i64::MIN, "zz"]}).to_string(),
            "x".repeat(100_000),
        ];
        let paths = match venue {
            Venue::BinanceUsdm => vec!["/public/ws", "/market/stream", "/private/ws?listenKey=nope", "/ws-fapi/v1"],
            Venue::BybitLinear => vec!["/v5/public/linear", "/v5/private", "/v5/trade"],
        };
        for path in paths {
            let mut s = ws(&format!("{}{path}", urls.ws_url), &ca);
            for g in &garbage {
                s.send(tungstenite::Message::text(g.as_str())).unwrap();
            }
            s.send(tungstenite::Message::binary(vec![0xff, 0xfe, 0x00])).unwrap();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(400) {
                if !matches!(next(&mut s, Duration::from_millis(100)), Got::Text(_) | Got::Timeout) {
                    break;
                }
            }
        }
        assert!(try_ws(&format!("{}/no/such/route", urls.ws_url), &ca).is_err(), "an unknown route is refused");
        let bodies = [
            "",
            "garbage",
            "{\"category\":\"linear\",\"qty\":\"1e400\"}",
            "symbol=BTCUSDT&quantity=-&timestamp=-9223372036854775808&signature=zz",
        ];
        for path in [
            "/fapi/v1/order",
            "/v5/order/create",
            "/fapi/v1/depth?symbol=%ZZ&limit=-5",
            "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=999999999999",
            "/sim/nothing",
        ] {
            for body in bodies {
                let h = bybit_headers(body, SECRET);
                let mut headers = as_refs(&h);
                headers.push(("X-MBX-APIKEY", KEY));
                let r = https("POST", &format!("{}{path}", urls.rest_url), &headers, body, &ca);
                assert!(r.status >= 200 && r.status < 600);
                let r = https("GET", &format!("{}{path}", urls.rest_url), &headers, "", &ca);
                assert!(r.status >= 200 && r.status < 600);
            }
        }
        let time = if venue == Venue::BinanceUsdm { "/fapi/v1/time" } else { "/v5/market/time" };
        assert_eq!(https("GET", &format!("{}{time}", urls.rest_url), &[], "", &ca).status, 200, "still serving");
        let report = sim.stop();
        assert!(report.counters["bad_client_messages"] > 0 && report.counters["unknown_paths"] > 0, "{venue}: counted");
    }
    assert_eq!(SIM_THREAD_PANICS.load(std::sync::atomic::Ordering::SeqCst), 0, "a simulator thread panicked");
}

/// How a latency harness pairs the stamps: the frame a client acted on
/// (found by its exchange id) and the order it sent back (by client id).
#[test]
fn wire_stamps_pair_a_frame_with_the_order_it_triggered() {
    let sim = start(Venue::BinanceUsdm, |_| {});
    let ca = sim.ca_file().to_owned();
    let price = far_bid(&sim);
    let mut api = ws(&sim.urls().ws_api_url, &ca);
    let mut md = ws(&format!("{}/public/ws/btcusdt@bookTicker", sim.urls().ws_url), &ca);
    let frame = next_json(&mut md, T);
    let u = frame["u"].as_u64().unwrap();
    let req = binance_ws_request(
        "n-77-0",
        "order.place",
        &[
            ("symbol", json!("BTCUSDT")),
            ("side", json!("BUY")),
            ("type", json!("LIMIT")),
            ("timeInForce", json!("GTX")),
            ("quantity", json!("0.002")),
            ("price", json!(price)),
            ("newClientOrderId", json!("scalpel-77")),
        ],
        SECRET,
    );
    send(&mut api, &req);
    assert_eq!(next_json(&mut api, T)["status"], 200);
    let published = sim.take_published();
    let p = published
        .iter()
        .find(|p| p.kind == scalpel::sim::stamps::FrameKind::Top && p.exchange_id == u)
        .expect("the frame acted on was published");
    let written = sim.take_frame_stamps().into_iter().find(|s| s.seq == p.seq).expect("and written to the client");
    let order =
        sim.take_order_stamps().into_iter().find(|o| o.client_order_id.as_str() == "scalpel-77").expect("order read");
    assert!(p.publish_ns <= written.write_ns && written.write_ns < order.read_ns);
    let wire_to_wire = order.read_ns - written.write_ns;
    assert!(wire_to_wire < 5_000_000_000, "{wire_to_wire} ns");
}
