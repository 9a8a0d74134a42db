//! Ornstein–Uhlenbeck mean reversion of the mid: online estimates of θ, μ,
//! σ, the z-score of the current mid and the direction of the expected
//! drift.
//!
//! # Estimator
//! The mid is sampled on the grid of `sample_ms` (Δ seconds; see
//! `series.rs`), and the last `n = ou_window_ms / sample_ms` samples are
//! fitted by least squares to the exact discretisation of
//! `dX = θ(μ − X)dt + σ dW` (Uhlenbeck & Ornstein 1930; the AR(1) mapping
//! as in Brockwell & Davis, *Time Series: Theory and Methods*, §3 and the
//! OU calibration by regression in van den Berg, "Calibrating the
//! Ornstein-Uhlenbeck model", 2011):
//!
//! ```text
//! X_t = a + b·X_{t−1} + ε,  ε ~ N(0, s²)
//! b = e^{−θΔ}   a = μ(1 − b)   s² = σ²(1 − b²)/(2θ)
//! θ = −ln b / Δ   μ = a / (1 − b)   σ = s·√(2θ / (1 − b²))
//! ```
//!
//! The regression sums over the window (`Σx`, `Σx²`, `Σx_{t−1}x_t`, …) come
//! from the series' exact integer prefix sums, so a window slides in O(1)
//! with no accumulated rounding; the centred moments
//! `n·Σxx − (Σx)²` are formed in `i128` exactly before the division. The
//! fit is recomputed once per completed grid slot, not per event.
//!
//! The stationary standard deviation is `s / √(1 − b²)`, and the z-score of
//! the *current* mid is `(mid − μ) / that`. Drift points from the mid
//! towards μ (+1 up, −1 down) when the process is mean-reverting
//! (`0 < b < 1`) and `|z| ≥ ou_min_zscore`; otherwise 0.
//!
//! When `b ≥ 1` (a random walk or trend over the window) or `b ≤ 0`, there
//! is no mean reversion to speak of: θ is reported when defined (`b > 0`,
//! possibly ≤ 0), and μ, σ, z and drift are 0.
//!
//! # Invariants
//! - O(1) amortised per event, no allocation after construction.
//! - Sample values are `bid + ask` mantissas relative to the first one seen
//!   (so the integer moments stay small); μ is shifted back on output.

use crate::fixed::pow10;

use super::series::{StepSeries, WindowSums};

/// A least-squares AR(1) fit over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ar1Fit {
    /// Slope `b`.
    pub b: f64,
    /// Intercept `a` (sample units).
    pub a: f64,
    /// Residual variance `s²` (sample units², `n − 2` degrees of freedom).
    pub resid_var: f64,
}

/// Fits `x_t = a + b x_{t−1}` over the window. `None` when the previous
/// values are all equal or an intermediate overflows `i128`.
#[must_use]
pub fn fit_ar1(w: &WindowSums) -> Option<Ar1Fit> {
    let n = i128::from(w.n);
    if n < 3 {
        return None;
    }
    let (last, before) = (i128::from(w.last), i128::from(w.before));
    let sy = w.sum_x;
    let syy = w.sum_xx;
    let sp = sy - last + before;
    let spp = syy - last * last + before * before;
    let spy = syy - w.sum_xr;
    let c_pp = n.checked_mul(spp)?.checked_sub(sp.checked_mul(sp)?)?;
    let c_py = n.checked_mul(spy)?.checked_sub(sp.checked_mul(sy)?)?;
    let c_yy = n.checked_mul(syy)?.checked_sub(sy.checked_mul(sy)?)?;
    if c_pp <= 0 {
        return None;
    }
    let (c_pp, c_py, c_yy) = (c_pp as f64, c_py as f64, c_yy as f64);
    let b = c_py / c_pp;
    let nf = n as f64;
    let a = (sy as f64 - b * sp as f64) / nf;
    let sse = ((c_yy - c_py * c_py / c_pp) / nf).max(0.0);
    Some(Ar1Fit { b, a, resid_var: sse / (nf - 2.0) })
}

/// Derived OU parameters (sample units, per second).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OuParams {
    /// θ per second (`None`-like 0 when `b ≤ 0`).
    pub theta: f64,
    /// Mean reversion holds (`0 < b < 1` and a positive residual variance).
    pub reverting: bool,
    /// μ in sample units (relative to the reference).
    pub mu: f64,
    /// σ in sample units per √s.
    pub sigma: f64,
    /// Stationary standard deviation, sample units.
    pub sigma_eq: f64,
}

impl OuParams {
    /// From an AR(1) fit on a grid of `dt_s` seconds.
    #[must_use]
    pub fn from_fit(fit: &Ar1Fit, dt_s: f64) -> Self {
        if fit.b <= 0.0 {
            return Self::default();
        }
        let theta = -fit.b.ln() / dt_s;
        if fit.b >= 1.0 || fit.resid_var <= 0.0 {
            return Self { theta, ..Self::default() };
        }
        let one_minus_b2 = 1.0 - fit.b * fit.b;
        Self {
            theta,
            reverting: true,
            mu: fit.a / (1.0 - fit.b),
            sigma: (fit.resid_var * 2.0 * theta / one_minus_b2).sqrt(),
            sigma_eq: (fit.resid_var / one_minus_b2).sqrt(),
        }
    }
}

/// OU estimator of one instrument's mid.
#[derive(Clone)]
pub struct OrnsteinUhlenbeck {
    series: StepSeries<1>,
    reference: Option<i64>,
    params: Option<OuParams>,
    dt_s: f64,
    min_z: f64,
}

impl OrnsteinUhlenbeck {
    /// A fit over `window_ms` of `sample_ms` samples.
    #[must_use]
    pub fn new(sample_ms: u32, window_ms: u32, min_z: f64) -> Self {
        let sample_ms = sample_ms.max(1);
        Self {
            series: StepSeries::new(sample_ms, [window_ms / sample_ms]),
            reference: None,
            params: None,
            dt_s: f64::from(sample_ms) / 1000.0,
            min_z,
        }
    }

    fn refit(&mut self) {
        self.params = self
            .series
            .window(0)
            .map(|w| fit_ar1(&w).map_or_else(OuParams::default, |f| OuParams::from_fit(&f, self.dt_s)));
    }

    /// Moves time to `now_ms` (refits when a grid slot completed).
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        if self.series.advance(now_ms) {
            self.refit();
        }
    }

    /// One mid observation (`bid + ask` mantissa).
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        let reference = *self.reference.get_or_insert(mid2);
        if self.series.set(now_ms, mid2.wrapping_sub(reference)) {
            self.refit();
        }
    }

    /// The current fit (`None` until the window is full).
    #[must_use]
    pub fn params(&self) -> Option<&OuParams> {
        self.params.as_ref()
    }

    /// The window is full.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.params.is_some()
    }

    /// Writes the OU fields for the current mid.
    pub fn fill(&self, snap: &mut super::SignalSnapshot, price_scale: u8) {
        snap.ou_theta = 0.0;
        snap.ou_mu = 0.0;
        snap.ou_sigma = 0.0;
        snap.ou_zscore = 0.0;
        snap.ou_drift = 0;
        let (Some(p), Some(reference), Some(current)) = (self.params, self.reference, self.series.current()) else {
            return;
        };
        snap.ou_theta = p.theta;
        if !p.reverting {
            return;
        }
        // Sample units are bid + ask: twice the price mantissa.
        let unit = 2.0 * pow10(price_scale) as f64;
        snap.ou_mu = (reference as f64 + p.mu) / unit;
        snap.ou_sigma = p.sigma / unit;
        let z = if p.sigma_eq > 0.0 { (current as f64 - p.mu) / p.sigma_eq } else { 0.0 };
        snap.ou_zscore = z;
        if z.abs() >= self.min_z && z != 0.0 {
            snap.ou_drift = if z > 0.0 { -1 } else { 1 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence (xorshift), for test noise.
    fn noise(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    #[test]
    fn recovers_a_simulated_ou_process() {
        // b = 0.9 per 1 s sample, μ = 1000, noise sd ≈ 0.2887·40.
        let mut ou = OrnsteinUhlenbeck::new(1000, 2_000_000, 0.5);
        let mut x = 1000.0f64;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2001i64 {
            ou.on_mid(i * 1000, 200_000 + x.round() as i64);
            x = 1000.0 + 0.9 * (x - 1000.0) + 40.0 * noise(&mut seed);
        }
        ou.advance(2_001_000);
        let p = *ou.params().expect("window full");
        assert!(p.reverting);
        assert!((p.theta - (-(0.9f64).ln())).abs() < 0.03, "θ {}", p.theta);
        let mut snap = crate::signal::SignalSnapshot::default();
        ou.fill(&mut snap, 0);
        assert!((snap.ou_mu - 100_500.0).abs() < 3.0, "μ {}", snap.ou_mu);
        assert!(snap.ou_sigma > 0.0);
    }

    #[test]
    fn a_trend_has_no_mean_reversion() {
        let mut ou = OrnsteinUhlenbeck::new(100, 1000, 0.5);
        for i in 0..40i64 {
            ou.on_mid(i * 100, 10_000 + i * i);
        }
        let mut snap = crate::signal::SignalSnapshot::default();
        ou.fill(&mut snap, 0);
        assert!(ou.warm());
        assert!(snap.ou_theta < 0.0, "explosive: b > 1, θ {}", snap.ou_theta);
        assert_eq!((snap.ou_mu, snap.ou_zscore, snap.ou_drift), (0.0, 0.0, 0));
    }

    #[test]
    fn flat_window_and_warm_up() {
        let mut ou = OrnsteinUhlenbeck::new(100, 1000, 0.5);
        let mut snap = crate::signal::SignalSnapshot::default();
        ou.on_mid(0, 500);
        ou.advance(900);
        assert!(!ou.warm(), "9 samples, 10 + 1 needed");
        ou.fill(&mut snap, 0);
        assert_eq!(snap.ou_theta, 0.0);
        ou.advance(1100);
        assert!(ou.warm());
        assert_eq!(*ou.params().unwrap(), OuParams::default(), "constant mid: no fit");
    }

    #[test]
    fn drift_points_back_to_the_mean() {
        let mut ou = OrnsteinUhlenbeck::new(100, 2000, 0.5);
        let mut seed = 7u64;
        let mut x = 0.0;
        for i in 0..200i64 {
            ou.on_mid(i * 100, 10_000 + x as i64);
            x = 0.5 * x + 20.0 * noise(&mut seed);
        }
        ou.on_mid(20_000, 10_000 + 60);
        let mut snap = crate::signal::SignalSnapshot::default();
        ou.fill(&mut snap, 0);
        assert!(snap.ou_zscore > 2.0, "z {}", snap.ou_zscore);
        assert_eq!(snap.ou_drift, -1);
        ou.on_mid(20_001, 10_000 - 60);
        ou.fill(&mut snap, 0);
        assert_eq!(snap.ou_drift, 1);
    }
}
