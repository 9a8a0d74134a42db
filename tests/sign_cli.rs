//! Runs the built `scalpel sign` binary and verifies what it prints with a
//! plain HMAC-SHA256 (the independent `hmac-sha256` crate) recomputed over
//! the printed parts only: the query (Binance REST), the sorted params
//! (Binance WS), timestamp + key + recv window + body (Bybit REST) and
//! `GET/realtime` + expires (Bybit trade WS auth).

use std::process::{Command, Output};

const SECRET: &str = "cli-test-secret-0123456789abcdef";
const SECRET_VAR: &str = "SCALPEL_SIGN_TEST_SECRET";
const KEY: &str = "cliTestApiKey42";

fn independent_hex(message: &[u8]) -> String {
    hmac_sha256::HMAC::mac(message, SECRET.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn instruments_path() -> String {
    format!("{}/tuning/instruments.toml", env!("CARGO_MANIFEST_DIR"))
}

fn sign(extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalpel"));
    cmd.arg("sign")
        .args(["--api-key", KEY, "--secret-env", SECRET_VAR, "--timestamp", "1700000000000"])
        .args(["--instruments", &instruments_path()])
        .args(extra)
        .env(SECRET_VAR, SECRET)
        .env("RUST_BACKTRACE", "0");
    let out = cmd.output().expect("run scalpel");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "the secret must never be printed");
    out
}

fn ok_stdout(extra: &[&str]) -> String {
    let out = sign(extra);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Splits REST output into (request line, headers, body).
fn rest_parts(text: &str) -> (String, Vec<(String, String)>, String) {
    let (head, body) = text.split_once("\n\n").expect("blank line after headers");
    let mut lines = head.lines();
    let first = lines.next().unwrap().to_owned();
    let headers = lines.map(|l| {
        let (k, v) = l.split_once(": ").expect("Header: value");
        (k.to_owned(), v.to_owned())
    });
    (first, headers.collect(), body.strip_suffix('\n').unwrap_or(body).to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no header {name}")).1
}

#[test]
fn binance_rest_verifies() {
    let text = ok_stdout(&[
        "--venue",
        "binance-usdm",
        "--transport",
        "rest",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        "--qty",
        "0.0105",
        "--price",
        "61800.27",
        "--tif",
        "GTX",
        "--client-id",
        "42",
    ]);
    let (first, headers, body) = rest_parts(&text);
    assert!(body.is_empty());
    let target = first.strip_prefix("POST /fapi/v1/order?").expect("method and path");
    let (unsigned, sig) = target.rsplit_once("&signature=").unwrap();
    assert_eq!(sig, independent_hex(unsigned.as_bytes()));
    assert_eq!(header(&headers, "X-MBX-APIKEY"), KEY);
    // Rounded in the safe direction: qty down to 0.010, buy price down to the 0.10 tick.
    assert_eq!(
        unsigned,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=0.01&price=61800.2&newClientOrderId=scalpel-42&recvWindow=5000&timestamp=1700000000000"
    );
}

#[test]
fn binance_ws_verifies() {
    let text = ok_stdout(&[
        "--venue",
        "binance-usdm",
        "--transport",
        "ws",
        "--symbol",
        "ETHUSDT",
        "--side",
        "SELL",
        "--type",
        "MARKET",
        "--qty",
        "0.5",
        "--price",
        "3000",
        "--reduce-only",
        "--recv-window",
        "2500",
    ]);
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["method"], "order.place");
    let params = v["params"].as_object().unwrap();
    let payload: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    assert_eq!(params["signature"].as_str().unwrap(), independent_hex(payload.join("&").as_bytes()));
    assert_eq!(params["reduceOnly"], "true");
    assert_eq!(params["recvWindow"], 2500);
    assert!(params.get("price").is_none(), "market orders carry no price");
}

#[test]
fn bybit_rest_verifies() {
    let text = ok_stdout(&[
        "--venue",
        "bybit-linear",
        "--transport",
        "rest",
        "--symbol",
        "BTCUSDT",
        "--side",
        "SELL",
        "--type",
        "LIMIT",
        "--qty",
        "0.01",
        "--price",
        "61800.21",
        "--client-id",
        "7",
    ]);
    let (first, headers, body) = rest_parts(&text);
    assert_eq!(first, "POST /v5/order/create");
    let mut pre = String::new();
    pre.push_str(header(&headers, "X-BAPI-TIMESTAMP"));
    pre.push_str(header(&headers, "X-BAPI-API-KEY"));
    pre.push_str(header(&headers, "X-BAPI-RECV-WINDOW"));
    pre.push_str(&body);
    assert_eq!(header(&headers, "X-BAPI-SIGN"), independent_hex(pre.as_bytes()));
    assert_eq!(header(&headers, "X-BAPI-TIMESTAMP"), "1700000000000");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["price"], "61800.3", "sell price rounds up to the tick");
    assert_eq!(v["orderLinkId"], "scalpel-7");
}

#[test]
fn bybit_ws_prints_auth_then_order() {
    let text = ok_stdout(&[
        "--venue",
        "bybit-linear",
        "--transport",
        "ws",
        "--symbol",
        "ETHUSDT",
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        "--qty",
        "1.25",
        "--price",
        "3000.5",
        "--tif",
        "IOC",
        "--client-id",
        "9",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let auth: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(auth["op"], "auth");
    assert_eq!(auth["args"][0], KEY);
    let expires = auth["args"][1].as_u64().unwrap();
    assert_eq!(expires, 1_700_000_005_000);
    assert_eq!(auth["args"][2].as_str().unwrap(), independent_hex(format!("GET/realtime{expires}").as_bytes()));
    let order: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(order["op"], "order.create");
    assert_eq!(order["args"][0]["qty"], "1.25");
    assert_eq!(order["args"][0]["timeInForce"], "IOC");
}

#[test]
fn missing_secret_variable_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["sign", "--venue", "bybit-linear", "--transport", "rest", "--api-key", KEY])
        .args(["--secret-env", "SCALPEL_SIGN_TEST_UNSET_VARIABLE", "--timestamp", "1"])
        .args(["--symbol", "BTCUSDT", "--side", "BUY", "--type", "LIMIT", "--qty", "0.01", "--price", "60000"])
        .args(["--instruments", &instruments_path()])
        .env_remove("SCALPEL_SIGN_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing is printed for a failed request");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SCALPEL_SIGN_TEST_UNSET_VARIABLE") && stderr.contains("not set"), "{stderr}");
}

#[test]
fn refused_orders_print_nothing() {
    // 0.0005 BTC rounds down to 0 at step 0.001.
    let out = sign(&[
        "--venue",
        "binance-usdm",
        "--transport",
        "ws",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        "--qty",
        "0.0005",
        "--price",
        "60000",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("below min_qty"));
    // 0.001 BTC at 60000 = 60 USDT < 100 USDT Binance minimum notional.
    let out = sign(&[
        "--venue",
        "binance-usdm",
        "--transport",
        "rest",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        "--qty",
        "0.001",
        "--price",
        "60000",
    ]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("notional"));
    let out = sign(&[
        "--venue",
        "bybit-linear",
        "--transport",
        "ws",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--type",
        "MARKET",
        "--qty",
        "0.01",
    ]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--price"));
}

/// A Binance Ed25519 key file (PKCS#8 v1 PEM of RFC 8032 TEST 1's seed),
/// written with `mode`.
fn ed25519_key_file(mode: u32) -> std::path::PathBuf {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt as _;
    let seed: Vec<u8> = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"[2 * i..2 * i + 2],
                16,
            )
            .unwrap()
        })
        .collect();
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let path = std::env::temp_dir().join(format!("scalpel-ed25519-{}-{mode:o}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn ed25519_sign(key: &std::path::Path, transport: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["sign", "--venue", "binance-usdm", "--transport", transport, "--api-key", KEY])
        .arg("--ed25519-key")
        .arg(key)
        .args(["--timestamp", "1700000000000", "--instruments", &instruments_path()])
        .args(["--symbol", "BTCUSDT", "--side", "BUY", "--type", "LIMIT", "--qty", "0.01", "--price", "61800.2"])
        .output()
        .expect("run scalpel")
}

#[test]
fn binance_ed25519_logon_then_unsigned_order_verifies_independently() {
    use base64::Engine as _;
    let key = ed25519_key_file(0o600);
    let out = ed25519_sign(&key, "ws");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let logon: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(logon["method"], "session.logon");
    let payload = format!("apiKey={KEY}&recvWindow=5000&timestamp=1700000000000");
    let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(logon["params"]["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    // RFC 8032 TEST 1's public key, verified by ed25519-dalek (not ring).
    let public: [u8; 32] = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"[2 * i..2 * i + 2],
                16,
            )
            .unwrap()
        })
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    vk.verify_strict(payload.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .expect("logon signature verifies");
    let order: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(order["method"], "order.place");
    assert!(order["params"].get("signature").is_none() && order["params"].get("apiKey").is_none(), "{order}");
    assert_eq!(order["params"]["price"], "61800.2");

    let rest = ed25519_sign(&key, "rest");
    assert!(rest.status.success());
    let rest = String::from_utf8(rest.stdout).unwrap();
    let query = rest.lines().next().unwrap().split_once('?').unwrap().1.to_owned();
    let (unsigned, sig) = query.split_once("&signature=").unwrap();
    let sig = sig.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
    let sig: [u8; 64] = base64::engine::general_purpose::STANDARD.decode(sig).unwrap().try_into().unwrap();
    vk.verify_strict(unsigned.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .expect("REST signature verifies");
    std::fs::remove_file(&key).unwrap();

    let open = ed25519_key_file(0o644);
    let out = ed25519_sign(&open, "ws");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&open).unwrap();
}
