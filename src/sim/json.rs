//! A small JSON text writer that keeps fields in the order they are
//! written, so the simulator's messages carry the venues' documented field
//! order (a `serde_json::Value` map would sort them). Off the engine's hot
//! path: it builds a `String` per message.

use std::fmt::Write as _;

use crate::fixed::DecimalText;

/// Writes one JSON document.
#[derive(Debug, Default)]
pub struct Json {
    out: String,
    comma: bool,
}

/// `text` as a JSON string literal body (without the quotes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// `mantissa` at exactly `scale` decimals (`61800.20`, `0.000`): the
/// fixed-decimal style Binance prints prices and quantities in.
#[must_use]
pub fn fixed(mantissa: i64, scale: u8) -> String {
    let trimmed = DecimalText::new(mantissa, scale);
    let text = trimmed.as_str();
    let have = text.find('.').map_or(0, |dot| text.len() - dot - 1);
    let mut s = String::with_capacity(text.len() + usize::from(scale) + 1);
    s.push_str(text);
    if scale > 0 {
        if have == 0 {
            s.push('.');
        }
        for _ in have..usize::from(scale) {
            s.push('0');
        }
    }
    s
}

/// `mantissa` at `scale` decimals with trailing zeros dropped (`61800.2`).
#[must_use]
pub fn trimmed(mantissa: i64, scale: u8) -> String {
    DecimalText::new(mantissa, scale).as_str().to_owned()
}

impl Json {
    /// An empty document.
    #[must_use]
    pub fn new() -> Self {
        Self { out: String::with_capacity(256), comma: false }
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
        self.comma = false;
    }

    fn key(&mut self, key: &str) {
        self.sep();
        self.out.push('"');
        escape_into(&mut self.out, key);
        self.out.push_str("\":");
    }

    /// `{` as a value in an array or at the top.
    pub fn open(&mut self) -> &mut Self {
        self.sep();
        self.out.push('{');
        self
    }

    /// `"key":{`.
    pub fn open_obj(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push('{');
        self
    }

    /// `}`.
    pub fn close(&mut self) -> &mut Self {
        self.out.push('}');
        self.comma = true;
        self
    }

    /// `"key":[`.
    pub fn open_arr(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push('[');
        self
    }

    /// `[` as a value.
    pub fn open_arr_value(&mut self) -> &mut Self {
        self.sep();
        self.out.push('[');
        self
    }

    /// `]`.
    pub fn close_arr(&mut self) -> &mut Self {
        self.out.push(']');
        self.comma = true;
        self
    }

    /// `"key":"value"`.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.out.push('"');
        escape_into(&mut self.out, value);
        self.out.push('"');
        self.comma = true;
        self
    }

    /// `"value"` as an array element.
    pub fn str_value(&mut self, value: &str) -> &mut Self {
        self.sep();
        self.out.push('"');
        escape_into(&mut self.out, value);
        self.out.push('"');
        self.comma = true;
        self
    }

    /// `"key":123`.
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self.comma = true;
        self
    }

    /// `"key":123` for unsigned values.
    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self.comma = true;
        self
    }

    /// `"key":true|false`.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self.comma = true;
        self
    }

    /// `"key":null`.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push_str("null");
        self.comma = true;
        self
    }

    /// `"key":<raw JSON text>` (the caller vouches for `raw`).
    pub fn raw(&mut self, key: &str, raw: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(raw);
        self.comma = true;
        self
    }

    /// Raw JSON text as an array element.
    pub fn raw_value(&mut self, raw: &str) -> &mut Self {
        self.sep();
        self.out.push_str(raw);
        self.comma = true;
        self
    }

    /// The document.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_ordered_valid_json() {
        let mut j = Json::new();
        j.open().str("b", "x\"y").int("a", -3).open_arr("l").str_value("1").raw_value("2").close_arr();
        j.open_obj("o").bool("t", true).null("n").close().close();
        let text = j.finish();
        assert_eq!(text, r#"{"b":"x\"y","a":-3,"l":["1",2],"o":{"t":true,"n":null}}"#);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["o"]["t"], true);
    }

    #[test]
    fn fixed_and_trimmed_decimals() {
        assert_eq!(fixed(6_180_020, 2), "61800.20");
        assert_eq!(fixed(0, 3), "0.000");
        assert_eq!(fixed(5, 0), "5");
        assert_eq!(fixed(-1, 2), "-0.01");
        assert_eq!(trimmed(6_180_020, 2), "61800.2");
    }
}
