//! Slow context inputs: macro and sentiment factors (fear & greed, funding
//! regime, dollar strength, rates, …) folded into the confidence score.
//!
//! They arrive from outside as `{"name":…,"value":…,"ts":…}` records
//! (`ts` in milliseconds since the Unix epoch), as JSON lines or one JSON
//! array, read **off the hot path**: [`parse_records`] runs at start-up (or
//! on a cold thread that re-reads the file), and the hot path only reads a
//! [`ContextBoard`] — one `(value, ts)` slot per configured component,
//! fixed at construction. Nothing here fetches anything from a network.
//!
//! Each configured [`ContextComponent`] turns the latest value of its name
//! into bounded points: `clamp(weight × (value − center), −clamp, clamp)`,
//! counted for longs and against shorts when `directional`, the same for
//! both otherwise; a record older than `max_age_secs` counts nothing.
//!
//! In a backtest a [`ContextTimeline`] replays the records into the board as
//! replay time passes, so a record is seen only from its own timestamp on.

use crate::side::Side;
use crate::strategy::config::ContextComponent;

/// One context record.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextRecord {
    /// Factor name.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// When it became known, ms since the epoch.
    pub ts_ms: i64,
}

/// Why a context file could not be read.
///
/// # Errors
/// Returned by [`parse_records`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A record (1-based; a line for JSON lines, an element for an array) is malformed.
    #[error("context record {index}: {problem}")]
    BadRecord {
        /// Which record.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    name: String,
    value: f64,
    ts: i64,
}

fn convert(index: usize, raw: RawRecord) -> Result<ContextRecord, ContextError> {
    if raw.name.is_empty() || !raw.value.is_finite() {
        return Err(ContextError::BadRecord { index, problem: "name must be non-empty and value finite".into() });
    }
    Ok(ContextRecord { name: raw.name, value: raw.value, ts_ms: raw.ts })
}

/// Parses records from a JSON array or from JSON lines (blank lines skipped).
///
/// # Errors
/// The first malformed record, by position.
pub fn parse_records(text: &str) -> Result<Vec<ContextRecord>, ContextError> {
    if text.trim_start().starts_with('[') {
        let raw: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ContextError::BadRecord { index: 0, problem: format!("not a JSON array: {e}") })?;
        return raw
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value::<RawRecord>(v)
                    .map_err(|e| ContextError::BadRecord { index: i + 1, problem: e.to_string() })
                    .and_then(|r| convert(i + 1, r))
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawRecord =
            serde_json::from_str(line).map_err(|e| ContextError::BadRecord { index: i + 1, problem: e.to_string() })?;
        out.push(convert(i + 1, raw)?);
    }
    Ok(out)
}

/// The latest value of every configured component: what the hot path reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContextBoard {
    slots: Vec<Option<(f64, i64)>>,
}

impl ContextBoard {
    /// A board with `components` empty slots.
    #[must_use]
    pub fn new(components: usize) -> Self {
        Self { slots: vec![None; components] }
    }

    /// Sets component `index` (ignored when out of range). Older records do
    /// not replace newer ones.
    pub fn update(&mut self, index: usize, value: f64, ts_ms: i64) {
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.is_none_or(|(_, ts)| ts <= ts_ms) {
                *slot = Some((value, ts_ms));
            }
        }
    }

    /// Total context points for a trade on `side` at `now_ms`.
    #[must_use]
    pub fn points(&self, components: &[ContextComponent], side: Side, now_ms: i64) -> f64 {
        components
            .iter()
            .zip(&self.slots)
            .filter_map(|(c, slot)| {
                let (value, ts) = (*slot)?;
                if now_ms - ts > c.max_age_ms || ts > now_ms {
                    return None;
                }
                let points = (c.weight * (value - c.center)).clamp(-c.clamp, c.clamp);
                Some(if c.directional && side == Side::Sell { -points } else { points })
            })
            .sum()
    }
}

/// Records ordered by time, fed into a board as replay time passes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContextTimeline {
    records: Vec<(i64, usize, f64)>,
    next: usize,
    ignored: usize,
}

impl ContextTimeline {
    /// Keeps the records whose name is a configured component (the others
    /// are counted in [`Self::ignored`]), in time order (stable: equal
    /// times keep file order).
    #[must_use]
    pub fn new(records: &[ContextRecord], components: &[ContextComponent]) -> Self {
        let mut kept = Vec::with_capacity(records.len());
        let mut ignored = 0;
        for r in records {
            match components.iter().position(|c| c.name == r.name) {
                Some(i) => kept.push((r.ts_ms, i, r.value)),
                None => ignored += 1,
            }
        }
        kept.sort_by_key(|&(ts, _, _)| ts);
        Self { records: kept, next: 0, ignored }
    }

    /// Records whose name matched no component.
    #[must_use]
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// Records applied so far.
    #[must_use]
    pub fn applied(&self) -> usize {
        self.next
    }

    /// Applies every record with `ts ≤ now_ms` not yet applied.
    pub fn advance(&mut self, now_ms: i64, board: &mut ContextBoard) {
        while let Some(&(ts, index, value)) = self.records.get(self.next) {
            if ts > now_ms {
                break;
            }
            board.update(index, value, ts);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str, directional: bool) -> ContextComponent {
        ContextComponent { name: name.into(), weight: 0.2, center: 50.0, clamp: 5.0, directional, max_age_ms: 60_000 }
    }

    #[test]
    fn parses_lines_and_arrays_alike() {
        let lines =
            "{\"name\":\"fear_greed\",\"value\":72,\"ts\":1000}\n\n{\"name\":\"dxy\",\"value\":-1.5,\"ts\":2000}\n";
        let array =
            "[{\"name\":\"fear_greed\",\"value\":72,\"ts\":1000},{\"name\":\"dxy\",\"value\":-1.5,\"ts\":2000}]";
        let a = parse_records(lines).unwrap();
        assert_eq!(a, parse_records(array).unwrap());
        assert_eq!(a[1], ContextRecord { name: "dxy".into(), value: -1.5, ts_ms: 2000 });
        let err = parse_records("{\"name\":\"x\",\"value\":1,\"ts\":1}\n{\"name\":\"x\",\"value\":\"high\",\"ts\":1}")
            .unwrap_err();
        assert!(matches!(err, ContextError::BadRecord { index: 2, .. }), "{err}");
        assert!(parse_records("{\"name\":\"x\",\"value\":1,\"ts\":1,\"extra\":0}").is_err());
    }

    #[test]
    fn points_are_bounded_directional_and_expire() {
        let comps = [component("fear_greed", true), component("funding_regime", false)];
        let mut board = ContextBoard::new(2);
        assert_eq!(board.points(&comps, Side::Buy, 0), 0.0);
        board.update(0, 60.0, 1_000); // 0.2 × 10 = 2 points
        board.update(1, 100.0, 1_000); // 0.2 × 50 = 10, clamped to 5
        assert!((board.points(&comps, Side::Buy, 2_000) - 7.0).abs() < 1e-12);
        assert!((board.points(&comps, Side::Sell, 2_000) - 3.0).abs() < 1e-12);
        // An older record does not replace a newer one.
        board.update(0, 0.0, 500);
        assert!((board.points(&comps, Side::Buy, 2_000) - 7.0).abs() < 1e-12);
        // Past max age, nothing counts.
        assert_eq!(board.points(&comps, Side::Buy, 61_001), 0.0);
    }

    #[test]
    fn timeline_applies_records_at_their_time() {
        let comps = [component("fear_greed", true)];
        let records = parse_records(
            "{\"name\":\"fear_greed\",\"value\":70,\"ts\":3000}\n{\"name\":\"other\",\"value\":1,\"ts\":0}\n{\"name\":\"fear_greed\",\"value\":40,\"ts\":1000}",
        )
        .unwrap();
        let mut t = ContextTimeline::new(&records, &comps);
        assert_eq!(t.ignored(), 1);
        let mut board = ContextBoard::new(1);
        t.advance(999, &mut board);
        assert_eq!(board.points(&comps, Side::Buy, 999), 0.0);
        t.advance(1_000, &mut board);
        assert!((board.points(&comps, Side::Buy, 1_000) + 2.0).abs() < 1e-12);
        t.advance(5_000, &mut board);
        assert!((board.points(&comps, Side::Buy, 5_000) - 4.0).abs() < 1e-12);
        assert_eq!(t.applied(), 2);
    }
}
