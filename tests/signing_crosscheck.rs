//! Random orders signed by the encoders, verified with an independent
//! HMAC-SHA256 implementation (the `hmac-sha256` crate, a single-file
//! implementation sharing no code with `hmac`/`sha2`), recomputing the
//! signed payload from the emitted request text alone.

use proptest::prelude::*;
use scalpel::fixed::{Notional, Price, Qty, parse_decimal};
use scalpel::instrument::{FeeSchedule, Instrument, Symbol};
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use scalpel::side::Side;
use scalpel::venue::Venue;
use scalpel::venue::binance::order::BinanceOrderEncoder;
use scalpel::venue::bybit::order::BybitOrderEncoder;
use scalpel::venue::credentials::Credentials;
use scalpel::venue::signed_request::{EncodeError, RecvWindow};

fn independent_hex(key: &[u8], message: &[u8]) -> String {
    hmac_sha256::HMAC::mac(message, key).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone)]
struct Case {
    secret: String,
    api_key: String,
    price_scale: u8,
    qty_scale: u8,
    tick: i64,
    step: i64,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: i64,
    qty: i64,
    reduce_only: bool,
    client: u64,
    ts: u64,
    recv: u32,
    attempt: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        ("[A-Za-z0-9]{1,100}", "[A-Za-z0-9_-]{1,80}"),
        0u8..=8,
        0u8..=6,
        1i64..=1000,
        1i64..=1000,
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        (1i64..=10_000_000, 0i64..1000),
        (1i64..=5_000, 0i64..1000),
        (any::<bool>(), any::<u64>()),
        (any::<u64>(), 1u32..=60_000, any::<u8>()),
    )
        .prop_map(
            |(
                (secret, api_key),
                price_scale,
                qty_scale,
                tick,
                step,
                buy,
                limit,
                tif,
                (price_mult, price_rem),
                (qty_mult, qty_rem),
                (reduce_only, client),
                (ts, recv, attempt),
            )| Case {
                secret,
                api_key,
                price_scale,
                qty_scale,
                tick,
                step,
                side: if buy { Side::Buy } else { Side::Sell },
                kind: if limit { OrderKind::Limit } else { OrderKind::Market },
                tif: [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::PostOnly][usize::from(tif)],
                // Off-grid by less than one tick / step, never below the first one.
                price: price_mult * tick + price_rem % tick,
                qty: qty_mult * step + qty_rem % step,
                reduce_only,
                client,
                ts,
                recv,
                attempt,
            },
        )
}

fn instrument(c: &Case, venue: Venue) -> Instrument {
    Instrument {
        venue,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        price_scale: c.price_scale,
        qty_scale: c.qty_scale,
        tick: Price(c.tick),
        step: Qty(c.step),
        min_qty: Qty(c.step),
        max_qty: Qty(c.step * 100_000),
        max_market_qty: Qty(c.step * 10_000),
        min_notional: Notional(0),
        fees: FeeSchedule::default_for(venue),
    }
}

fn order(c: &Case, venue: Venue) -> OrderRequest {
    let tif = if c.kind == OrderKind::Market && c.tif == TimeInForce::PostOnly { TimeInForce::Gtc } else { c.tif };
    OrderRequest {
        venue,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side: c.side,
        kind: c.kind,
        tif,
        price: Price(c.price),
        qty: Qty(c.qty),
        reduce_only: c.reduce_only,
        client_id: ClientOrderId(c.client),
    }
}

/// Every generated order is within the instrument's filters, so the only
/// acceptable refusal is a notional that does not fit an `i64` at 1e-8
/// USDT (above ~9.2e10 USDT), computed here independently in `i128`.
fn refused_ok(c: &Case, e: &EncodeError) -> bool {
    let exp = 8 - i32::from(c.price_scale) - i32::from(c.qty_scale);
    let price = match (c.kind, c.side) {
        (OrderKind::Market, _) => c.price,
        (OrderKind::Limit, Side::Buy) => c.price / c.tick * c.tick,
        (OrderKind::Limit, Side::Sell) => (c.price + c.tick - 1) / c.tick * c.tick,
    };
    let raw = i128::from(price) * i128::from((c.qty / c.step) * c.step);
    let value = if exp >= 0 { raw.checked_mul(10i128.pow(exp as u32)) } else { Some(raw / 10i128.pow((-exp) as u32)) };
    let overflows = value.is_none_or(|v| v > i128::from(i64::MAX));
    let ok = matches!(e, EncodeError::Check(scalpel::order::prepare::OrderCheckError::Overflow)) && overflows;
    if !ok {
        eprintln!("unexpected refusal: {e:?} for {c:?}");
    }
    ok
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn binance_rest_and_ws_verify_independently(c in case()) {
        let creds = Credentials::new(c.api_key.as_bytes(), c.secret.as_bytes()).unwrap();
        let enc = BinanceOrderEncoder::new(creds, RecvWindow::new(c.recv).unwrap());
        let inst = instrument(&c, Venue::BinanceUsdm);
        let o = order(&c, Venue::BinanceUsdm);
        let market_ref = Price(c.price);
        let mut buf = [0u8; 2048];
        match enc.rest_new_order(&o, &inst, market_ref, c.ts, &mut buf) {
            Err(e) => prop_assert!(refused_ok(&c, &e), "{e:?}"),
            Ok(signed) => {
                let query = std::str::from_utf8(signed.request.query).unwrap();
                let (unsigned, sig) = query.rsplit_once("&signature=").unwrap();
                prop_assert_eq!(sig, independent_hex(c.secret.as_bytes(), unsigned.as_bytes()));
                prop_assert_eq!(signed.request.header("X-MBX-APIKEY"), Some(c.api_key.as_bytes()));
                // The text on the wire is the prepared order, on the grid.
                let qty = parse_decimal(query_param(unsigned, "quantity").unwrap().as_bytes(), c.qty_scale, false).unwrap();
                prop_assert_eq!(qty, signed.order.qty.0);
                prop_assert_eq!(qty % c.step, 0);
                if c.kind == OrderKind::Limit {
                    let price = parse_decimal(query_param(unsigned, "price").unwrap().as_bytes(), c.price_scale, false).unwrap();
                    prop_assert_eq!(price, signed.order.price.0);
                    prop_assert_eq!(price % c.tick, 0);
                }
                let ts_text = c.ts.to_string();
                prop_assert_eq!(query_param(unsigned, "timestamp"), Some(ts_text.as_str()));
            }
        }
        let tag = RequestTag { op: RequestOp::Place, client_id: ClientOrderId(c.client), attempt: c.attempt };
        match enc.ws_place(&o, &inst, market_ref, tag, c.ts, &mut buf) {
            Err(e) => prop_assert!(refused_ok(&c, &e), "{e:?}"),
            Ok(signed) => {
                let v: serde_json::Value = serde_json::from_slice(signed.request).unwrap();
                let id_text = tag.render();
                prop_assert_eq!(v["id"].as_str().unwrap(), id_text.as_str());
                let params = v["params"].as_object().unwrap();
                // serde_json's map iterates in sorted key order: rebuild the payload independently.
                let payload: Vec<String> = params
                    .iter()
                    .filter(|(k, _)| k.as_str() != "signature")
                    .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect();
                let sig = params["signature"].as_str().unwrap();
                prop_assert_eq!(sig, independent_hex(c.secret.as_bytes(), payload.join("&").as_bytes()));
                prop_assert_eq!(params["apiKey"].as_str().unwrap(), c.api_key.as_str());
            }
        }
    }

    #[test]
    fn bybit_rest_and_ws_verify_independently(c in case()) {
        let creds = Credentials::new(c.api_key.as_bytes(), c.secret.as_bytes()).unwrap();
        let enc = BybitOrderEncoder::new(creds, RecvWindow::new(c.recv).unwrap());
        let inst = instrument(&c, Venue::BybitLinear);
        let o = order(&c, Venue::BybitLinear);
        let market_ref = Price(c.price);
        let mut buf = [0u8; 2048];
        match enc.rest_create(&o, &inst, market_ref, c.ts, &mut buf) {
            Err(e) => prop_assert!(refused_ok(&c, &e), "{e:?}"),
            Ok(signed) => {
                let r = signed.request;
                let ts = r.header("X-BAPI-TIMESTAMP").unwrap();
                let recv = r.header("X-BAPI-RECV-WINDOW").unwrap();
                let (ts_text, recv_text) = (c.ts.to_string(), c.recv.to_string());
                prop_assert_eq!(ts, ts_text.as_bytes());
                prop_assert_eq!(recv, recv_text.as_bytes());
                let mut pre = Vec::new();
                pre.extend_from_slice(ts);
                pre.extend_from_slice(c.api_key.as_bytes());
                pre.extend_from_slice(recv);
                pre.extend_from_slice(r.body);
                let expected = independent_hex(c.secret.as_bytes(), &pre);
                prop_assert_eq!(r.header("X-BAPI-SIGN").unwrap(), expected.as_bytes());
                let v: serde_json::Value = serde_json::from_slice(r.body).unwrap();
                let qty = parse_decimal(v["qty"].as_str().unwrap().as_bytes(), c.qty_scale, false).unwrap();
                prop_assert_eq!(qty, signed.order.qty.0);
                prop_assert_eq!(v["orderLinkId"].as_str().unwrap(), format!("scalpel-{}", c.client));
            }
        }
        let expires = c.ts.saturating_add(u64::from(c.recv));
        let auth = enc.ws_auth(RequestTag::new(RequestOp::Auth, ClientOrderId(c.client)), expires, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(auth).unwrap();
        prop_assert_eq!(v["args"][1].as_u64(), Some(expires));
        let expected = independent_hex(c.secret.as_bytes(), format!("GET/realtime{expires}").as_bytes());
        prop_assert_eq!(v["args"][2].as_str().unwrap(), expected.as_str());
        let tag = RequestTag { op: RequestOp::Place, client_id: ClientOrderId(c.client), attempt: c.attempt };
        match enc.ws_create(&o, &inst, market_ref, tag, c.ts, &mut buf) {
            Err(e) => prop_assert!(refused_ok(&c, &e), "{e:?}"),
            Ok(signed) => {
                let v: serde_json::Value = serde_json::from_slice(signed.request).unwrap();
                let req_id = v["reqId"].as_str().unwrap();
                prop_assert!(req_id.len() <= 36);
                prop_assert_eq!(RequestTag::parse(req_id.as_bytes()), Some(tag));
                prop_assert_eq!(v["header"]["X-BAPI-TIMESTAMP"].as_str().unwrap(), c.ts.to_string());
            }
        }
    }
}
