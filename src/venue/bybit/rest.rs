//! Bybit v5 REST requests the network layer sends besides orders, sans-IO.
//!
//! Source: Bybit v5 "Get Instruments Info" (`GET /v5/market/instruments-info`,
//! `category=linear`, `limit` up to 1000, paginated by `cursor`: each page's
//! `result.nextPageCursor` is passed back as `cursor` until it is empty).
//! Pages are parsed by `InstrumentTable::add_bybit_instruments_info`.

use crate::venue::wire_writer::{BufferTooSmall, WireWriter};

/// Instruments info.
pub const INSTRUMENTS_INFO_PATH: &str = "/v5/market/instruments-info";

/// Writes the target of one instruments-info page (linear, 1000 per page,
/// after `cursor` when given; the cursor is percent-encoded where needed).
///
/// # Errors
/// [`BufferTooSmall`].
pub fn instruments_info_target(cursor: Option<&str>, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut w = WireWriter::new(out);
    w.bytes(INSTRUMENTS_INFO_PATH.as_bytes())?;
    w.bytes(b"?category=linear&limit=1000")?;
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        w.bytes(b"&cursor=")?;
        for b in c.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~%".contains(&b) {
                w.byte(b)?;
            } else {
                w.bytes(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])?;
            }
        }
    }
    Ok(w.len())
}

/// The `result.nextPageCursor` of a page: `None` when it is the last page.
///
/// # Errors
/// `Err(())` when the body is not an instruments-info answer with `retCode` 0.
#[allow(clippy::result_unit_err)]
pub fn next_page_cursor(body: &[u8]) -> Result<Option<String>, ()> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| ())?;
    if v.get("retCode").and_then(serde_json::Value::as_i64) != Some(0) {
        return Err(());
    }
    let result = v.get("result").ok_or(())?;
    Ok(result.get("nextPageCursor").and_then(serde_json::Value::as_str).filter(|c| !c.is_empty()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_cursor_until_it_is_empty() {
        let mut out = [0u8; 160];
        let n = instruments_info_target(None, &mut out).unwrap();
        assert_eq!(&out[..n], b"/v5/market/instruments-info?category=linear&limit=1000");
        let n = instruments_info_target(Some("first%3D1000%26last%3D1000"), &mut out).unwrap();
        assert_eq!(
            &out[..n],
            b"/v5/market/instruments-info?category=linear&limit=1000&cursor=first%3D1000%26last%3D1000"
        );
        let n = instruments_info_target(Some("a=b&c"), &mut out).unwrap();
        assert!(out[..n].ends_with(b"&cursor=a%3Db%26c"));
        assert_eq!(
            next_page_cursor(
                br#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[],"nextPageCursor":"abc"}}"#
            ),
            Ok(Some("abc".to_owned()))
        );
        assert_eq!(next_page_cursor(br#"{"retCode":0,"result":{"list":[],"nextPageCursor":""}}"#), Ok(None));
        assert_eq!(next_page_cursor(br#"{"retCode":10001,"retMsg":"params error"}"#), Err(()));
    }

    #[test]
    fn the_recorded_answer_is_a_last_page() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/bybit-linear/instruments-info_20260809.json");
        let Ok(body) = std::fs::read(&path) else {
            use std::io::Write as _;
            let _ =
                writeln!(std::io::stderr(), "skipped the_recorded_answer_is_a_last_page: {} not found", path.display());
            return;
        };
        assert!(next_page_cursor(&body).is_ok());
    }
}
