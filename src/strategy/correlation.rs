//! The correlation guard: rolling Pearson correlation of mid returns
//! between the traded instruments, and no second same-direction position
//! while it is at or above `max` (BTC and ETH, or one symbol on two
//! venues, are one bet twice).
//!
//! # Sampling
//! Each instrument's last mid (from the snapshots the strategy sees) is
//! sampled at the end of every `sample_ms` slot of the strategy's clock;
//! a sample row holds each instrument's return since its previous sample,
//! in bps, or nothing for an instrument without a mid. A gap in the data
//! makes one row (the return over the gap). Pairwise sums (`n`, `Σx`,
//! `Σy`, `Σx²`, `Σy²`, `Σxy` over the rows where both have a return) over
//! the last `window_samples` rows give
//! `ρ = (nΣxy − ΣxΣy) / √((nΣx² − (Σx)²)(nΣy² − (Σy)²))`, defined from
//! `min_samples` rows and non-zero variances.
//!
//! # Gate (`[gates.correlation]`)
//! A candidate on instrument `i` in direction `d` fails
//! ([`super::GateKind::Correlation`]) when another instrument `j` holds a
//! position or an entry in direction `d` and `ρ(i, j) ≥ max`, or `ρ(i, j)`
//! is not known yet and `block_when_unknown`.
//!
//! # Cost
//! Rings and sums are allocated at construction (`n` instruments,
//! `n(n−1)/2` pairs); one slot costs O(n²) additions, independent of the
//! number of events; sums are recomputed from the ring every
//! `window_samples` rows so that rounding cannot drift.

use serde::Deserialize;

use crate::instrument::LoadError;

/// `[gates.correlation]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCorrelation {
    enabled: bool,
    max: f64,
    sample_ms: u32,
    window_samples: u32,
    min_samples: u32,
    block_when_unknown: bool,
}

impl Default for RawCorrelation {
    fn default() -> Self {
        Self {
            enabled: true,
            max: 0.7,
            sample_ms: 1000,
            window_samples: 300,
            min_samples: 30,
            block_when_unknown: true,
        }
    }
}

/// The correlation gate's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelationConfig {
    /// Evaluated at all.
    pub enabled: bool,
    /// Correlation at or above which a second same-direction position is refused.
    pub max: f64,
    /// Sampling grid, ms.
    pub sample_ms: i64,
    /// Rows in the window.
    pub window: usize,
    /// Rows needed before a correlation is known.
    pub min_samples: usize,
    /// Block while the correlation is not known.
    pub block_when_unknown: bool,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        RawCorrelation::default().validate().expect("built-in correlation defaults validate")
    }
}

impl RawCorrelation {
    pub(crate) fn validate(&self) -> Result<CorrelationConfig, LoadError> {
        if !self.max.is_finite() || !(-1.0..=1.0).contains(&self.max) {
            return Err(LoadError::new("gates.correlation.max", "must be between -1 and 1"));
        }
        if self.sample_ms == 0 || self.sample_ms > 3_600_000 {
            return Err(LoadError::new("gates.correlation.sample_ms", "must be 1..=3600000"));
        }
        if self.window_samples < 3 || self.window_samples > 100_000 {
            return Err(LoadError::new("gates.correlation.window_samples", "must be 3..=100000"));
        }
        if self.min_samples < 3 || self.min_samples > self.window_samples {
            return Err(LoadError::new("gates.correlation.min_samples", "must be 3..=window_samples"));
        }
        Ok(CorrelationConfig {
            enabled: self.enabled,
            max: self.max,
            sample_ms: i64::from(self.sample_ms),
            window: self.window_samples as usize,
            min_samples: self.min_samples as usize,
            block_when_unknown: self.block_when_unknown,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct PairSums {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl PairSums {
    fn add(&mut self, x: f64, y: f64, sign: f64) {
        self.n += sign;
        self.sx += sign * x;
        self.sy += sign * y;
        self.sxx += sign * x * x;
        self.syy += sign * y * y;
        self.sxy += sign * x * y;
    }

    fn rho(&self, min: usize) -> Option<f64> {
        if self.n < min as f64 {
            return None;
        }
        let vx = self.n * self.sxx - self.sx * self.sx;
        let vy = self.n * self.syy - self.sy * self.sy;
        let cov = self.n * self.sxy - self.sx * self.sy;
        // A variance at rounding level is no variance.
        let eps = 1e-12 * (self.n * self.sxx).max(self.n * self.syy).max(1e-300);
        if vx <= eps || vy <= eps {
            return None;
        }
        Some((cov / (vx * vy).sqrt()).clamp(-1.0, 1.0))
    }
}

/// Rolling return correlations between `n` instruments.
#[derive(Debug, Clone)]
pub struct CorrelationTracker {
    cfg: CorrelationConfig,
    n: usize,
    last_mid: Box<[f64]>,
    sampled: Box<[f64]>,
    /// Rows of returns (NaN: none), `window × n`.
    ring: Box<[f64]>,
    head: usize,
    rows: usize,
    since_recompute: usize,
    pairs: Box<[PairSums]>,
    slot: Option<i64>,
}

impl CorrelationTracker {
    /// A tracker for `n` instruments.
    #[must_use]
    pub fn new(cfg: CorrelationConfig, n: usize) -> Self {
        Self {
            cfg,
            n,
            last_mid: vec![0.0; n].into_boxed_slice(),
            sampled: vec![0.0; n].into_boxed_slice(),
            ring: vec![f64::NAN; cfg.window * n].into_boxed_slice(),
            head: 0,
            rows: 0,
            since_recompute: 0,
            pairs: vec![PairSums::default(); n * n.saturating_sub(1) / 2].into_boxed_slice(),
            slot: None,
        }
    }

    fn pair_index(&self, i: usize, j: usize) -> usize {
        let (a, b) = if i < j { (i, j) } else { (j, i) };
        // Row a of the strict upper triangle starts at a·n − a(a+1)/2.
        a * self.n - a * (a + 1) / 2 + (b - a - 1)
    }

    /// Instrument `i` has mid `mid` (price units) at `now_ms`.
    #[inline]
    pub fn observe(&mut self, i: usize, now_ms: i64, mid: f64) {
        if i >= self.n {
            return;
        }
        let slot = now_ms.div_euclid(self.cfg.sample_ms);
        match self.slot {
            None => self.slot = Some(slot),
            Some(s) if slot > s => {
                self.sample_row();
                self.slot = Some(slot);
            }
            _ => {}
        }
        if mid.is_finite() && mid > 0.0 {
            self.last_mid[i] = mid;
        }
    }

    fn row(&self, r: usize) -> &[f64] {
        &self.ring[r * self.n..(r + 1) * self.n]
    }

    fn sample_row(&mut self) {
        let n = self.n;
        let at = self.head;
        // The row leaving the window.
        if self.rows == self.cfg.window {
            self.apply_row(at, -1.0);
        }
        for k in 0..n {
            let (prev, now) = (self.sampled[k], self.last_mid[k]);
            self.ring[at * n + k] = if prev > 0.0 && now > 0.0 { 1e4 * (now - prev) / prev } else { f64::NAN };
            if now > 0.0 {
                self.sampled[k] = now;
            }
        }
        self.apply_row(at, 1.0);
        self.head = (self.head + 1) % self.cfg.window;
        self.rows = (self.rows + 1).min(self.cfg.window);
        self.since_recompute += 1;
        if self.since_recompute >= self.cfg.window {
            self.recompute();
        }
    }

    fn apply_row(&mut self, r: usize, sign: f64) {
        for a in 0..self.n {
            for b in a + 1..self.n {
                let (x, y) = (self.row(r)[a], self.row(r)[b]);
                if x.is_finite() && y.is_finite() {
                    let k = self.pair_index(a, b);
                    self.pairs[k].add(x, y, sign);
                }
            }
        }
    }

    fn recompute(&mut self) {
        self.since_recompute = 0;
        self.pairs.fill(PairSums::default());
        let start = (self.head + self.cfg.window - self.rows) % self.cfg.window;
        for k in 0..self.rows {
            self.apply_row((start + k) % self.cfg.window, 1.0);
        }
    }

    /// The correlation of instruments `i` and `j`, when known.
    #[must_use]
    pub fn rho(&self, i: usize, j: usize) -> Option<f64> {
        if i == j {
            return Some(1.0);
        }
        if i >= self.n || j >= self.n {
            return None;
        }
        self.pairs[self.pair_index(i, j)].rho(self.cfg.min_samples)
    }

    /// `true` when a position of `i` in the direction of the engaged
    /// instruments `others` (those holding a position or an entry in the
    /// same direction) must be refused.
    #[must_use]
    pub fn blocks(&self, i: usize, others: impl Iterator<Item = usize>) -> bool {
        if !self.cfg.enabled {
            return false;
        }
        let mut blocked = false;
        for j in others {
            blocked |= match self.rho(i, j) {
                Some(r) => r >= self.cfg.max,
                None => self.cfg.block_when_unknown,
            };
        }
        blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CorrelationConfig {
        CorrelationConfig { window: 50, min_samples: 10, ..CorrelationConfig::default() }
    }

    /// Feeds `steps` seconds of mids from second `start`: instrument 0 a pseudo-random walk,
    /// instrument 1 = `beta` × its returns plus independent noise of `noise`.
    fn feed(t: &mut CorrelationTracker, start: i64, steps: i64, beta: f64, noise: f64) {
        let (mut a, mut b) = (60_000.0f64, 3_000.0f64);
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        for s in start..start + steps {
            let (r, e) = (rnd(), rnd());
            a *= 1.0 + r * 1e-4;
            b *= 1.0 + (beta * r + noise * e) * 1e-4;
            t.observe(0, s * 1000 + 500, a);
            t.observe(1, s * 1000 + 600, b);
        }
    }

    #[test]
    fn correlation_of_a_common_factor() {
        let mut t = CorrelationTracker::new(cfg(), 3);
        feed(&mut t, 0, 200, 1.0, 0.0);
        let r = t.rho(0, 1).unwrap();
        assert!(r > 0.999, "{r}");
        // Instrument 2 never had a mid: unknown.
        assert_eq!(t.rho(0, 2), None);
        let mut u = CorrelationTracker::new(cfg(), 2);
        feed(&mut u, 0, 200, 0.0, 1.0);
        assert!(u.rho(0, 1).unwrap().abs() < 0.4);
    }

    #[test]
    fn gate_at_the_threshold_and_unknown() {
        let mut t = CorrelationTracker::new(cfg(), 3);
        assert!(t.blocks(0, [1].into_iter()), "unknown blocks by default");
        assert!(!t.blocks(0, std::iter::empty()), "nothing engaged: nothing to block");
        feed(&mut t, 0, 200, 1.0, 0.0);
        let r = t.rho(0, 1).unwrap();
        t.cfg.max = r;
        assert!(t.blocks(0, [1].into_iter()), "at the threshold");
        t.cfg.max = r + 1e-9;
        assert!(!t.blocks(0, [1].into_iter()), "just below it");
        t.cfg.block_when_unknown = false;
        assert!(!t.blocks(0, [2].into_iter()));
        t.cfg.enabled = false;
        t.cfg.max = -1.0;
        assert!(!t.blocks(0, [1].into_iter()));
    }

    #[test]
    fn too_few_rows_are_unknown() {
        let mut t = CorrelationTracker::new(cfg(), 2);
        feed(&mut t, 0, 10, 1.0, 0.0);
        // Ten seconds make nine complete rows of returns (the first row has none).
        assert_eq!(t.rho(0, 1), None);
        feed(&mut t, 10, 3, 1.0, 0.0);
        assert!(t.rho(0, 1).is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let bad = |text: &str| {
            let raw: RawCorrelation = toml::from_str(text).unwrap();
            raw.validate().unwrap_err().key
        };
        assert_eq!(bad("max = 1.5"), "gates.correlation.max");
        assert_eq!(bad("window_samples = 2"), "gates.correlation.window_samples");
        assert_eq!(bad("min_samples = 1000"), "gates.correlation.min_samples");
        assert_eq!(bad("sample_ms = 0"), "gates.correlation.sample_ms");
    }
}
