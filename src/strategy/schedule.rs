//! Time-of-day schedule: the hours (UTC) in which new entries are allowed
//! and a size multiplier per hour, for the plans' session rules (trade the
//! liquid sessions, size down in the thin hours around the daily
//! roll-over).
//!
//! `[schedule]`: `enabled`, `allowed_hours_utc` (default every hour) and
//! `[[schedule.size]]` rows of `hours_utc` and `multiplier` (decimal text,
//! 0 < m ≤ 10; an hour not listed keeps 1). An hour outside
//! `allowed_hours_utc` blocks entries ([`super::GateKind::Schedule`]);
//! exits are never blocked. The hour is that of the decision's time (the
//! exchange clock in a replay). A fixed table of 24 entries: O(1), no
//! allocation.

use serde::Deserialize;

use crate::fixed::Rate;
use crate::instrument::LoadError;

/// One multiplier row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSize {
    hours_utc: Vec<u8>,
    multiplier: String,
}

/// `[schedule]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSchedule {
    enabled: bool,
    allowed_hours_utc: Vec<u8>,
    size: Vec<RawSize>,
}

impl Default for RawSchedule {
    fn default() -> Self {
        Self { enabled: false, allowed_hours_utc: (0..24).collect(), size: Vec::new() }
    }
}

/// The schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Applied at all.
    pub enabled: bool,
    /// Entries allowed, by UTC hour.
    pub allowed: [bool; 24],
    /// Size multiplier by UTC hour (8 decimals).
    pub multiplier: [Rate; 24],
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self { enabled: false, allowed: [true; 24], multiplier: [Rate(100_000_000); 24] }
    }
}

fn hour(key: &str, h: u8) -> Result<usize, LoadError> {
    if h > 23 {
        return Err(LoadError::new(key, format!("hour {h} is not in 0..=23")));
    }
    Ok(usize::from(h))
}

impl RawSchedule {
    pub(crate) fn validate(&self) -> Result<ScheduleConfig, LoadError> {
        let mut c = ScheduleConfig { enabled: self.enabled, allowed: [false; 24], ..ScheduleConfig::default() };
        for &h in &self.allowed_hours_utc {
            c.allowed[hour("schedule.allowed_hours_utc", h)?] = true;
        }
        for (n, row) in self.size.iter().enumerate() {
            let m = super::config::fraction(&format!("schedule.size[{n}].multiplier"), &row.multiplier, 10)?;
            for &h in &row.hours_utc {
                c.multiplier[hour(&format!("schedule.size[{n}].hours_utc"), h)?] = m;
            }
        }
        Ok(c)
    }
}

impl ScheduleConfig {
    /// The UTC hour of `now_ms`.
    #[must_use]
    pub fn hour_of(now_ms: i64) -> usize {
        usize::try_from(now_ms.div_euclid(3_600_000).rem_euclid(24)).unwrap_or(0)
    }

    /// The size multiplier at `now_ms`, or `None` when entries are not
    /// allowed then. Always 1 when the schedule is off.
    #[must_use]
    pub fn at(&self, now_ms: i64) -> Option<Rate> {
        if !self.enabled {
            return Some(Rate(100_000_000));
        }
        let h = Self::hour_of(now_ms);
        self.allowed[h].then_some(self.multiplier[h])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<ScheduleConfig, LoadError> {
        let raw: RawSchedule = toml::from_str(text).map_err(|e| LoadError::new("schedule", e.message().to_owned()))?;
        raw.validate()
    }

    const H: i64 = 3_600_000;

    #[test]
    fn hours_at_their_edges() {
        let c = cfg("enabled = true\nallowed_hours_utc = [8, 9, 23]\n[[size]]\nhours_utc = [23]\nmultiplier = \"0.5\"")
            .unwrap();
        // 07:59:59.999 is hour 7: blocked; 08:00 is allowed at full size.
        assert_eq!(c.at(8 * H - 1), None);
        assert_eq!(c.at(8 * H), Some(Rate(100_000_000)));
        assert_eq!(c.at(10 * H - 1), Some(Rate(100_000_000)));
        assert_eq!(c.at(10 * H), None);
        // 23:xx at half size, and the next day's 00:00 is blocked.
        assert_eq!(c.at(23 * H), Some(Rate(50_000_000)));
        assert_eq!(c.at(24 * H), None);
        // 2024-08-08 23:59 UTC (the real recording) is hour 23.
        assert_eq!(ScheduleConfig::hour_of(1_723_161_540_000), 23);
        // Off: always full size.
        assert_eq!(ScheduleConfig::default().at(3 * H), Some(Rate(100_000_000)));
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(cfg("allowed_hours_utc = [24]").unwrap_err().key, "schedule.allowed_hours_utc");
        assert_eq!(
            cfg("[[size]]\nhours_utc = [1]\nmultiplier = \"0\"").unwrap_err().key,
            "schedule.size[0].multiplier"
        );
        assert_eq!(
            cfg("[[size]]\nhours_utc = [25]\nmultiplier = \"1\"").unwrap_err().key,
            "schedule.size[0].hours_utc"
        );
    }
}
