//! Market regime — trending, ranging or high-volatility — from a variance
//! ratio of the mid and the percentile of the current volatility, with
//! hysteresis so that it does not flap.
//!
//! # Inputs (evaluated once per completed grid slot of `sample_ms`)
//! - **Variance ratio** (Lo & MacKinlay 1988, "Stock market prices do not
//!   follow random walks", RFS 1(1)), in its non-overlapping form: with
//!   fine returns `r` of the mid over one slot and coarse returns `R` over
//!   `q = regime_coarse_samples` slots (a second grid of `q·sample_ms`),
//!   both over `regime_window_ms`,
//!   `VR = Var(R) / (q · Var(r))` (sample variances). A random walk has
//!   VR = 1; positively autocorrelated returns (trend) VR > 1; mean
//!   reversion VR < 1. Returns are mid changes in `bid + ask` mantissas
//!   (at this horizon the same as log returns up to a constant factor,
//!   which cancels); the sums `Σr`, `Σr²` are exact integers from the
//!   series' prefix sums.
//! - **Volatility percentile**: the rank of the newest sample of the EWMA
//!   volatility (`volatility.rs`, sampled like the mid: the value at the
//!   end of each slot) among the samples of the last
//!   `regime_vol_window_ms`, as the mid-rank `(below + ½·equal) / n` over
//!   volatility rounded to 1/16 octave (256 log-spaced bins from 10⁻³
//!   bps/√s). Counts per bin live in a Fenwick tree (Fenwick 1994) and
//!   the samples in a run-length ring, so a silence of any length is one
//!   run: O(log bins) per completed slot.
//!
//! # Classification with hysteresis
//! Until both inputs are warm the regime is `Unknown`. Then, at each
//! completed slot, from the current regime:
//! - any → `HighVolatility` when the percentile reaches
//!   `high_vol_enter_pct`; `HighVolatility` ends only below
//!   `high_vol_exit_pct` (then trending if VR ≥ 1, else ranging);
//! - `Ranging` → `Trending` only when VR reaches `trend_enter_vr` (> 1);
//!   `Trending` → `Ranging` only when VR falls to `range_enter_vr` (< 1);
//!   in the band between them the regime stays;
//! - the first classification (from `Unknown`) uses VR ≥ 1;
//! - no change within `regime_min_dwell_ms` of the previous one.
//!
//! Two separated thresholds and a minimum dwell are the standard
//! Schmitt-trigger construction: a series oscillating inside the band, or
//! faster than the dwell, cannot make the regime flap (unit-tested).
//!
//! # Invariants
//! - O(1) amortised per event (O(log bins) per completed slot), no
//!   allocation after construction; evaluated on the exchange clock only.

use super::Regime;
use super::series::{StepSeries, WindowSums};
use super::window::SlotClock;

/// Bins of the volatility histogram.
pub const VOL_BINS: usize = 256;
/// Bins per doubling of volatility.
pub const VOL_BINS_PER_OCTAVE: f64 = 16.0;
/// Volatility of bin 0's upper edge, bps/√s.
pub const VOL_FLOOR: f64 = 1e-3;

/// The histogram bin of a volatility value.
#[inline]
#[must_use]
pub fn vol_bin(vol: f64) -> usize {
    if vol.is_nan() || vol <= VOL_FLOOR {
        return 0;
    }
    let b = (VOL_BINS_PER_OCTAVE * (vol / VOL_FLOOR).log2()).floor();
    if b >= (VOL_BINS - 1) as f64 { VOL_BINS - 1 } else { b as usize }
}

/// Sample variance times `n(n−1)`: `n·Σr² − (Σr)²` (exact), with `Σr =
/// last − before`.
#[must_use]
pub fn scaled_variance(w: &WindowSums) -> Option<i128> {
    let n = i128::from(w.n);
    let sum = i128::from(w.last) - i128::from(w.before);
    n.checked_mul(w.sum_rr)?.checked_sub(sum.checked_mul(sum)?)
}

/// `Var(R) / (q Var(r))` from the fine and coarse windows.
#[must_use]
pub fn variance_ratio(fine: &WindowSums, coarse: &WindowSums, q: i64) -> Option<f64> {
    let vf = scaled_variance(fine)?;
    let vc = scaled_variance(coarse)?;
    if vf <= 0 || fine.n < 2 || coarse.n < 2 {
        return None;
    }
    let var_f = vf as f64 / (fine.n as f64 * (fine.n - 1) as f64);
    let var_c = vc as f64 / (coarse.n as f64 * (coarse.n - 1) as f64);
    Some(var_c / (q as f64 * var_f))
}

/// Counts per bin with prefix sums in O(log bins).
#[derive(Clone)]
struct Fenwick {
    tree: Box<[i64]>,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Self { tree: vec![0; n + 1].into_boxed_slice() }
    }

    fn add(&mut self, bin: usize, delta: i64) {
        let mut i = bin + 1;
        while i < self.tree.len() {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// Σ counts of bins `< end`.
    fn prefix(&self, end: usize) -> i64 {
        let (mut i, mut acc) = (end, 0);
        while i > 0 {
            acc += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        acc
    }
}

/// A run of equal samples: `len` slots from `start` in bin `bin`.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    start: i64,
    len: i64,
    bin: usize,
}

/// The binned volatility samples of the last `window` slots.
#[derive(Clone)]
pub struct VolHistory {
    window: i64,
    counts: Fenwick,
    runs: Box<[Run]>,
    head: usize,
    len: usize,
    /// Slots held (≤ window).
    held: i64,
    open: Option<(i64, f64)>,
    clock: SlotClock,
}

impl VolHistory {
    /// `window` slots of `slot_ms`.
    #[must_use]
    pub fn new(slot_ms: u32, window: u32) -> Self {
        Self {
            window: i64::from(window.max(1)),
            counts: Fenwick::new(VOL_BINS),
            runs: vec![Run::default(); (window.max(1) as usize + 2).next_power_of_two()].into_boxed_slice(),
            head: 0,
            len: 0,
            held: 0,
            open: None,
            clock: SlotClock::new(i64::from(slot_ms.max(1))),
        }
    }

    fn run_at(&mut self, i: usize) -> &mut Run {
        let j = (self.head + i) & (self.runs.len() - 1);
        &mut self.runs[j]
    }

    /// Moves time to `now_ms`, completing slots with the open value.
    pub fn advance(&mut self, now_ms: i64) {
        let Some((open_slot, vol)) = self.open else { return };
        let Some(slot) = self.clock.update(now_ms) else { return };
        if slot <= open_slot {
            return;
        }
        // Slots open_slot ..= slot − 1 complete with `vol`; only the last
        // `window` of them can stay.
        let count = (slot - open_slot).min(self.window);
        let start = slot - count;
        let bin = vol_bin(vol);
        self.counts.add(bin, count);
        self.held += count;
        let extend = self.len > 0 && {
            let last = *self.run_at(self.len - 1);
            last.bin == bin && last.start + last.len == start
        };
        if extend {
            let i = self.len - 1;
            self.run_at(i).len += count;
        } else {
            if self.len == self.runs.len() {
                // Unreachable: at most one run per slot of the window, plus
                // the one being added.
                debug_assert!(false, "vol history ring full");
                let front = *self.run_at(0);
                self.counts.add(front.bin, -front.len);
                self.held -= front.len;
                self.head = (self.head + 1) & (self.runs.len() - 1);
                self.len -= 1;
            }
            let i = self.len;
            *self.run_at(i) = Run { start, len: count, bin };
            self.len += 1;
        }
        // Evict slots ≤ G − window from the front.
        let floor = slot - 1 - self.window;
        while self.len > 0 {
            let front = *self.run_at(0);
            let gone = (floor + 1 - front.start).min(front.len);
            if gone <= 0 {
                break;
            }
            self.counts.add(front.bin, -gone);
            self.held -= gone;
            if gone == front.len {
                self.head = (self.head + 1) & (self.runs.len() - 1);
                self.len -= 1;
            } else {
                let f = self.run_at(0);
                f.start += gone;
                f.len -= gone;
                break;
            }
        }
        self.open = Some((slot, vol));
    }

    /// Sets the current volatility at `now_ms`.
    pub fn set(&mut self, now_ms: i64, vol: f64) {
        self.advance(now_ms);
        match &mut self.open {
            Some((_, v)) => *v = vol,
            None => {
                self.clock.update(now_ms);
                self.open = Some((self.clock.slot(), vol));
            }
        }
    }

    /// The newest complete sample's percentile, once the window is full.
    #[must_use]
    pub fn percentile(&self) -> Option<f64> {
        if self.held < self.window || self.len == 0 {
            return None;
        }
        let last = self.runs[(self.head + self.len - 1) & (self.runs.len() - 1)];
        let below = self.counts.prefix(last.bin);
        let equal = self.counts.prefix(last.bin + 1) - below;
        Some((below as f64 + 0.5 * equal as f64) / self.held as f64)
    }
}

/// Classifier thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegimeRule {
    /// VR at or above which ranging turns trending.
    pub trend_enter_vr: f64,
    /// VR at or below which trending turns ranging.
    pub range_enter_vr: f64,
    /// Percentile at or above which any regime turns high-volatility.
    pub high_vol_enter_pct: f64,
    /// Percentile below which high volatility ends.
    pub high_vol_exit_pct: f64,
    /// Least time between changes, ms.
    pub min_dwell_ms: i64,
}

impl RegimeRule {
    /// The regime the inputs call for from `current` (before the dwell
    /// check). `None` inputs keep the current regime.
    #[must_use]
    pub fn target(&self, current: Regime, vr: Option<f64>, pct: Option<f64>) -> Regime {
        let (Some(vr), Some(pct)) = (vr, pct) else { return current };
        let by_vr = if vr >= 1.0 { Regime::Trending } else { Regime::Ranging };
        match current {
            Regime::Unknown => {
                if pct >= self.high_vol_enter_pct {
                    Regime::HighVolatility
                } else {
                    by_vr
                }
            }
            _ if current != Regime::HighVolatility && pct >= self.high_vol_enter_pct => Regime::HighVolatility,
            Regime::HighVolatility => {
                if pct < self.high_vol_exit_pct {
                    by_vr
                } else {
                    Regime::HighVolatility
                }
            }
            Regime::Trending if vr <= self.range_enter_vr => Regime::Ranging,
            Regime::Ranging if vr >= self.trend_enter_vr => Regime::Trending,
            other => other,
        }
    }
}

/// Regime classifier of one instrument.
#[derive(Clone)]
pub struct RegimeClassifier {
    fine: StepSeries<1>,
    coarse: StepSeries<1>,
    vols: VolHistory,
    q: i64,
    rule: RegimeRule,
    reference: Option<i64>,
    regime: Regime,
    changed_ms: i64,
    vr: Option<f64>,
    pct: Option<f64>,
}

impl RegimeClassifier {
    /// From the signal configuration's regime keys.
    #[must_use]
    pub fn new(sample_ms: u32, window_ms: u32, q: u32, vol_window_ms: u32, rule: RegimeRule) -> Self {
        let sample_ms = sample_ms.max(1);
        let q = q.max(1);
        Self {
            fine: StepSeries::new(sample_ms, [window_ms / sample_ms]),
            coarse: StepSeries::new(sample_ms * q, [window_ms / (sample_ms * q)]),
            vols: VolHistory::new(sample_ms, vol_window_ms / sample_ms),
            q: i64::from(q),
            rule,
            reference: None,
            regime: Regime::Unknown,
            changed_ms: i64::MIN / 2,
            vr: None,
            pct: None,
        }
    }

    fn evaluate(&mut self, now_ms: i64) {
        self.vr = match (self.fine.window(0), self.coarse.window(0)) {
            (Some(f), Some(c)) => variance_ratio(&f, &c, self.q),
            _ => None,
        };
        self.pct = self.vols.percentile();
        if self.pct.is_none() || (self.vr.is_none() && self.regime == Regime::Unknown) {
            return;
        }
        let target = self.rule.target(self.regime, self.vr, self.pct);
        if target != self.regime
            && (self.regime == Regime::Unknown || now_ms - self.changed_ms >= self.rule.min_dwell_ms)
        {
            self.regime = target;
            self.changed_ms = now_ms;
        }
    }

    /// Moves time to `now_ms`; re-evaluates when a grid slot completed.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        self.vols.advance(now_ms);
        self.coarse.advance(now_ms);
        if self.fine.advance(now_ms) {
            self.evaluate(now_ms);
        }
    }

    /// One mid observation (`bid + ask` mantissa) with the volatility after it.
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64, vol: f64) {
        self.advance(now_ms);
        let reference = *self.reference.get_or_insert(mid2);
        let x = mid2.wrapping_sub(reference);
        self.vols.set(now_ms, vol);
        self.coarse.set(now_ms, x);
        self.fine.set(now_ms, x);
    }

    /// The current regime.
    #[must_use]
    pub fn regime(&self) -> Regime {
        self.regime
    }

    /// Variance ratio at the last evaluation.
    #[must_use]
    pub fn variance_ratio(&self) -> Option<f64> {
        self.vr
    }

    /// Volatility percentile at the last evaluation.
    #[must_use]
    pub fn volatility_percentile(&self) -> Option<f64> {
        self.pct
    }

    /// Both inputs have full windows.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.fine.window(0).is_some() && self.coarse.window(0).is_some() && self.pct.is_some()
    }

    /// Writes the regime fields.
    pub fn fill(&self, snap: &mut super::SignalSnapshot) {
        snap.regime = self.regime;
        snap.variance_ratio = self.vr.unwrap_or(0.0);
        snap.volatility_percentile = self.pct.unwrap_or(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(dwell: i64) -> RegimeRule {
        RegimeRule {
            trend_enter_vr: 1.25,
            range_enter_vr: 0.8,
            high_vol_enter_pct: 0.9,
            high_vol_exit_pct: 0.7,
            min_dwell_ms: dwell,
        }
    }

    #[test]
    fn vol_bins_are_log_spaced() {
        assert_eq!(vol_bin(0.0), 0);
        assert_eq!(vol_bin(f64::NAN), 0);
        assert_eq!(vol_bin(2e-3), 16);
        assert_eq!(vol_bin(4e-3), 32);
        assert_eq!(vol_bin(1e9), VOL_BINS - 1);
    }

    #[test]
    fn percentile_over_a_window_with_a_silence() {
        let mut h = VolHistory::new(100, 4);
        assert_eq!(h.percentile(), None);
        for (t, v) in [(0, 1.0), (100, 2.0), (200, 3.0)] {
            h.set(t, v);
        }
        h.advance(300);
        assert_eq!(h.percentile(), None, "3 of 4 slots");
        h.set(300, 0.5);
        h.advance(400);
        // Samples 1, 2, 3, 0.5: the newest is the lowest.
        assert_eq!(h.percentile(), Some(0.5 / 4.0));
        // A silence of 10 slots: the window holds four samples of 0.5.
        h.advance(1400);
        assert_eq!(h.percentile(), Some(0.5));
        h.set(1400, 9.0);
        h.advance(1500);
        assert_eq!(h.percentile(), Some(3.5 / 4.0));
    }

    #[test]
    fn variance_ratio_of_trend_and_reversal() {
        // Alternating ±1 moves: fine var high, coarse (q = 2) returns zero.
        let mut fine: StepSeries<1> = StepSeries::new(1, [8]);
        let mut coarse: StepSeries<1> = StepSeries::new(2, [4]);
        for t in 0..=20i64 {
            let x = t % 2;
            fine.set(t, x);
            coarse.set(t, x);
        }
        let (f, c) = (fine.window(0).unwrap(), coarse.window(0).unwrap());
        assert_eq!(variance_ratio(&f, &c, 2), Some(0.0));
        // Noisy trend: +1, +2 alternately: fine var 0.25, coarse returns all 3.
        let (mut fine, mut coarse): (StepSeries<1>, StepSeries<1>) = (StepSeries::new(1, [8]), StepSeries::new(2, [4]));
        let mut x = 0;
        for t in 0..=20i64 {
            x += 1 + t % 2;
            fine.set(t, x);
            coarse.set(t, x);
        }
        let (f, c) = (fine.window(0).unwrap(), coarse.window(0).unwrap());
        assert_eq!(variance_ratio(&f, &c, 2), Some(0.0), "coarse returns are constant");
        // A flat mid has no ratio.
        let (mut fine, mut coarse): (StepSeries<1>, StepSeries<1>) = (StepSeries::new(1, [8]), StepSeries::new(2, [4]));
        for t in 0..=20i64 {
            fine.set(t, 5);
            coarse.set(t, 5);
        }
        assert_eq!(variance_ratio(&fine.window(0).unwrap(), &coarse.window(0).unwrap(), 2), None);
    }

    #[test]
    fn hysteresis_does_not_flap_inside_the_band() {
        let r = rule(0);
        // VR oscillating inside (0.8, 1.25) never leaves the first regime.
        let mut regime = r.target(Regime::Unknown, Some(1.1), Some(0.5));
        assert_eq!(regime, Regime::Trending);
        let mut changes = 0;
        for i in 0..1000 {
            let vr = if i % 2 == 0 { 0.85 } else { 1.2 };
            let pct = if i % 3 == 0 { 0.88 } else { 0.72 };
            let next = r.target(regime, Some(vr), Some(pct));
            changes += usize::from(next != regime);
            regime = next;
        }
        assert_eq!((regime, changes), (Regime::Trending, 0));
        // Crossing the far thresholds does switch, each way once.
        assert_eq!(r.target(Regime::Trending, Some(0.79), Some(0.5)), Regime::Ranging);
        assert_eq!(r.target(Regime::Ranging, Some(1.25), Some(0.5)), Regime::Trending);
        assert_eq!(r.target(Regime::Ranging, Some(1.0), Some(0.95)), Regime::HighVolatility);
        assert_eq!(r.target(Regime::HighVolatility, Some(0.5), Some(0.8)), Regime::HighVolatility);
        assert_eq!(r.target(Regime::HighVolatility, Some(0.5), Some(0.6)), Regime::Ranging);
        assert_eq!(r.target(Regime::Ranging, None, Some(0.99)), Regime::Ranging, "unknown VR holds");
    }

    fn noise(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// Regime changes of the classifier over a series whose returns are
    /// positively autocorrelated (ρ = 0.8, trending) for 3 s and negatively
    /// (ρ = −0.6, reverting) for 3 s in turn, on a 100 ms grid: the
    /// variance ratio swings across both thresholds every few seconds.
    fn oscillating_changes(dwell_ms: i64) -> Vec<(i64, Regime)> {
        let mut c = RegimeClassifier::new(100, 2000, 4, 2000, rule(dwell_ms));
        let mut changes = Vec::new();
        let mut last = c.regime();
        let (mut seed, mut r, mut x) = (12_345u64, 0.0f64, 1_000_000.0f64);
        for i in 0..1200i64 {
            let t = i * 100;
            let rho = if (t / 3000) % 2 == 0 { 0.8 } else { -0.6 };
            r = rho * r + 20.0 * noise(&mut seed);
            x += r;
            c.on_mid(t, x.round() as i64, 1.0 + 0.5 * ((t / 700) % 3) as f64);
            if c.regime() != last {
                changes.push((t, c.regime()));
                last = c.regime();
            }
        }
        assert!(c.warm());
        changes
    }

    #[test]
    fn the_classifier_on_an_oscillating_series_respects_the_dwell() {
        let changes = oscillating_changes(10_000);
        assert!(changes.len() >= 3, "the regime does react: {changes:?}");
        for pair in changes.windows(2).skip(1) {
            assert!(pair[1].0 - pair[0].0 >= 10_000, "flapped: {changes:?}");
        }
        // Without the dwell only the threshold band holds it back, and the
        // same series switches more often: the dwell is what bounds it.
        let free = oscillating_changes(0);
        assert!(free.len() > changes.len(), "{} vs {}", free.len(), changes.len());
        assert!(free.windows(2).any(|p| p[1].0 - p[0].0 < 10_000));
    }
}
