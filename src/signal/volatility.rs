//! EWMA realised volatility of the mid, and the mid's velocity and
//! acceleration.
//!
//! Both work in *continuous* exchange time on the mid observed at each
//! book event, with returns in bps (`x = 10⁴ (m_n − m_{n−1}) / m_{n−1}`,
//! simple returns: at these horizons they equal log returns to 10⁻⁸).
//!
//! # Volatility
//! An exponentially weighted realised variance (RiskMetrics 1996 in its
//! continuous-time form): the quadratic variation of the mid weighted by
//! `e^{−age/τ}` and divided by `τ`,
//!
//! ```text
//! V(t) = (1/τ) Σ_{t_j ≤ t} e^{−(t − t_j)/τ} x_j²      [bps²/s]
//! ```
//!
//! updated per event as `V ← V·e^{−Δt/τ} + x²/τ`, with `τ = half-life / ln 2`.
//! During warm-up the kernel has seen only the span `T` since the first
//! mid, so `V` is divided by its mass `1 − e^{−T/τ}` (the same bias
//! correction as Adam's moment estimates); `σ = √(V / (1 − e^{−T/τ}))`
//! in bps/√s (`e^{−T/τ}` is kept as the product of the per-event decays,
//! so one decay per event serves both; decays for steps under 256 ms come
//! from a table of the same `exp` values). Events at the same millisecond need
//! no special case:
//! variance accrues with each price change, never with a division by Δt.
//!
//! # Velocity and acceleration: EMA of differences, not a Kalman filter
//! Velocity is the exponentially weighted sum of mid changes per unit time,
//! `v(t) = (1/τ_v) Σ_j e^{−(t − t_j)/τ_v} x_j` — equivalently
//! `(mid − EMA_τv(mid)) / τ_v` for the continuous-time EMA — in bps/s: a
//! steady ramp of β bps/s gives `v → β`. Acceleration is the same
//! operator applied to `v`: `a = (v − EMA_τa(v)) / τ_a` in bps/s², which
//! gives `a → α` on a parabola `½αt²`. Between events `v` decays
//! exponentially, and `EMA_τa(v)` has the closed form
//! `m ← e^{−Δ/τa}·m + v·c(Δ)` with
//! `c(Δ) = τ_v/(τ_v − τ_a)·(e^{−Δ/τv} − e^{−Δ/τa})` (`(Δ/τ)e^{−Δ/τ}` when the
//! two time constants are equal), so the filter is exact in continuous time
//! and does not depend on how the events are spaced.
//!
//! Why not a constant-acceleration Kalman filter: it needs process and
//! measurement noise levels that a half-tick-quantised mid does not pin
//! down without an offline fit, costs a 3×3 covariance update per event,
//! and has no closed-form batch equivalent to test against. The EMA of
//! differences is a fixed linear filter — its value is a finite weighted
//! sum over past mid changes, recomputed from scratch in the tests at every
//! event — with two decays per event and well-defined behaviour for
//! simultaneous events (Δt = 0 is a pure jump).
//!
//! # Invariants
//! - O(1) per book event, no allocation; time never goes back.
//! - Before the second mid every value is 0.

/// `c(Δ)` of the module docs, given `e^{−Δ/τv}` and `e^{−Δ/τa}` (computed
/// once per event and shared with the decays).
#[inline]
#[must_use]
pub fn ema_of_decay(dt_ms: f64, tau_v_ms: f64, tau_a_ms: f64, decay_v: f64, decay_a: f64) -> f64 {
    if tau_v_ms == tau_a_ms {
        dt_ms / tau_v_ms * decay_v
    } else {
        tau_v_ms / (tau_v_ms - tau_a_ms) * (decay_v - decay_a)
    }
}

/// The return of `mid2` over `prev_mid2` in bps.
#[inline]
#[must_use]
pub fn return_bps(prev_mid2: i64, mid2: i64) -> f64 {
    1e4 * (mid2 - prev_mid2) as f64 / prev_mid2 as f64
}

/// Whole-millisecond steps shorter than this are looked up, not computed:
/// on the real Binance feed nearly every step between book events is a
/// few milliseconds.
const TABULATED_STEPS: usize = 256;

/// `e^{−Δ/τ}` for a step of Δ whole milliseconds. Steps below
/// [`TABULATED_STEPS`] are read from a table filled at construction with
/// the very expression used for longer steps, so a lookup returns exactly
/// the value the `exp` call would (bit for bit); it saves the call, which
/// was the largest single cost of a book event's signal update.
#[derive(Debug, Clone)]
struct Decay {
    tau_ms: f64,
    table: Box<[f64]>,
}

impl Decay {
    fn new(tau_ms: f64) -> Self {
        Self { tau_ms, table: (0..TABULATED_STEPS as i64).map(|dt| Self::compute(tau_ms, dt)).collect() }
    }

    #[inline]
    fn compute(tau_ms: f64, dt_ms: i64) -> f64 {
        (-(dt_ms as f64) / tau_ms).exp()
    }

    #[inline]
    fn of(&self, dt_ms: i64) -> f64 {
        match usize::try_from(dt_ms).ok().and_then(|i| self.table.get(i)) {
            Some(&decay) => decay,
            None => Self::compute(self.tau_ms, dt_ms),
        }
    }
}

/// The previous mid observation, and when the first one was.
#[derive(Debug, Clone, Copy, Default)]
struct MidSteps {
    start_ms: i64,
    last_ms: i64,
    last_mid2: Option<i64>,
}

impl MidSteps {
    /// Records `(now, mid2)`; returns the time since the previous mid and
    /// that mid, unless this is the first.
    #[inline]
    fn step(&mut self, now_ms: i64, mid2: i64) -> Option<(i64, i64)> {
        let prev = self.last_mid2.replace(mid2);
        let last_ms = std::mem::replace(&mut self.last_ms, now_ms);
        match prev {
            Some(prev) => Some((now_ms - last_ms, prev)),
            None => {
                self.start_ms = now_ms;
                None
            }
        }
    }

    /// Time from the first mid to the last, once there is one.
    fn elapsed_ms(&self) -> Option<i64> {
        self.last_mid2.map(|_| self.last_ms - self.start_ms)
    }
}

/// EWMA realised volatility of the mid.
#[derive(Debug, Clone)]
pub struct Volatility {
    tau_ms: f64,
    decay: Decay,
    half_life_ms: i64,
    var: f64,
    /// `e^{−T/τ}` for the span T since the first mid, as the product of
    /// the per-event decays (no second `exp`).
    unseen: f64,
    steps: MidSteps,
}

impl Volatility {
    /// With the given half-life.
    #[must_use]
    pub fn new(half_life_ms: u32) -> Self {
        let tau_ms = f64::from(half_life_ms.max(1)) / std::f64::consts::LN_2;
        Self {
            tau_ms,
            decay: Decay::new(tau_ms),
            half_life_ms: i64::from(half_life_ms),
            var: 0.0,
            unseen: 1.0,
            steps: MidSteps::default(),
        }
    }

    /// One mid observation (twice the mid, as a price mantissa).
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        let Some((dt, prev)) = self.steps.step(now_ms, mid2) else { return };
        if dt > 0 {
            let decay = self.decay.of(dt);
            self.var *= decay;
            self.unseen *= decay;
        }
        if mid2 != prev && prev > 0 {
            let x = return_bps(prev, mid2);
            self.var += x * x / (self.tau_ms / 1000.0);
        }
    }

    /// σ in bps/√s (0 before any time has passed).
    #[inline]
    #[must_use]
    pub fn value(&self) -> f64 {
        let mass = 1.0 - self.unseen;
        if mass > 0.0 { (self.var / mass).sqrt() } else { 0.0 }
    }

    /// One half-life has passed since the first mid.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.steps.elapsed_ms().is_some_and(|t| t >= self.half_life_ms)
    }
}

/// Mid velocity and acceleration (EMA of differences), two decays per
/// event (one when the time constants are equal).
#[derive(Debug, Clone)]
pub struct Kinematics {
    tau_v_ms: f64,
    tau_a_ms: f64,
    decay_v: Decay,
    decay_a: Decay,
    velocity: f64,
    ema_velocity: f64,
    acceleration: f64,
    steps: MidSteps,
    warm_after_ms: i64,
}

impl Kinematics {
    /// With the given time constants.
    #[must_use]
    pub fn new(velocity_tau_ms: u32, acceleration_tau_ms: u32) -> Self {
        let (tau_v_ms, tau_a_ms) = (f64::from(velocity_tau_ms.max(1)), f64::from(acceleration_tau_ms.max(1)));
        Self {
            tau_v_ms,
            tau_a_ms,
            decay_v: Decay::new(tau_v_ms),
            decay_a: Decay::new(tau_a_ms),
            velocity: 0.0,
            ema_velocity: 0.0,
            acceleration: 0.0,
            steps: MidSteps::default(),
            warm_after_ms: 3 * i64::from(velocity_tau_ms.max(acceleration_tau_ms)),
        }
    }

    /// One mid observation.
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        let Some((dt, prev)) = self.steps.step(now_ms, mid2) else { return };
        if dt > 0 {
            let decay_v = self.decay_v.of(dt);
            let decay_a = if self.tau_a_ms == self.tau_v_ms { decay_v } else { self.decay_a.of(dt) };
            let carry = ema_of_decay(dt as f64, self.tau_v_ms, self.tau_a_ms, decay_v, decay_a);
            self.ema_velocity = decay_a * self.ema_velocity + self.velocity * carry;
            self.velocity *= decay_v;
        }
        if mid2 != prev && prev > 0 {
            self.velocity += return_bps(prev, mid2) / (self.tau_v_ms / 1000.0);
        }
        self.acceleration = (self.velocity - self.ema_velocity) / (self.tau_a_ms / 1000.0);
    }

    /// Velocity, bps/s.
    #[must_use]
    pub fn velocity(&self) -> f64 {
        self.velocity
    }

    /// Acceleration, bps/s².
    #[must_use]
    pub fn acceleration(&self) -> f64 {
        self.acceleration
    }

    /// Three of the longer time constant have passed since the first mid.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.steps.elapsed_ms().is_some_and(|t| t >= self.warm_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabulated_decays_are_exactly_the_computed_ones() {
        for tau in [1.0, 250.0, 1000.0 / std::f64::consts::LN_2, 60_000.0] {
            let d = Decay::new(tau);
            // Across the table, at its edge and beyond it, and a negative
            // step (time never goes back, but it must not index the table).
            for dt in (0..300).chain([TABULATED_STEPS as i64 - 1, TABULATED_STEPS as i64, 1_000_000, -1]) {
                let want = (-(dt as f64) / tau).exp();
                assert_eq!(d.of(dt).to_bits(), want.to_bits(), "tau {tau} dt {dt}");
            }
        }
    }

    #[test]
    fn nothing_before_two_mids() {
        let mut v = Volatility::new(1000);
        let mut k = Kinematics::new(1000, 2000);
        assert_eq!((v.value(), k.velocity(), k.acceleration()), (0.0, 0.0, 0.0));
        v.on_mid(0, 20_000);
        k.on_mid(0, 20_000);
        assert_eq!((v.value(), k.velocity(), k.acceleration()), (0.0, 0.0, 0.0));
        assert!(!v.warm() && !k.warm());
    }

    #[test]
    fn constant_rate_of_variance_is_recovered() {
        // One 1 bp move every 10 ms for 100 s: variance rate 100 bps²/s, so
        // σ = 10 bps/√s once warm, and bias correction makes it right early.
        let mut v = Volatility::new(5_000);
        let mut mid2 = 2_000_000_000i64;
        v.on_mid(0, mid2);
        for i in 1..=10_000 {
            let up = i % 2 == 0;
            let step = mid2 / 10_000;
            mid2 += if up { step } else { -step };
            v.on_mid(i * 10, mid2);
            if i == 500 {
                assert!((v.value() - 10.0).abs() < 0.1, "early: {}", v.value());
            }
        }
        assert!((v.value() - 10.0).abs() < 0.01, "{}", v.value());
        assert!(v.warm());
    }

    #[test]
    fn ramp_and_parabola() {
        // A ramp of 2 bps/s sampled every 10 ms: v → 2, a → 0.
        let mut k = Kinematics::new(500, 1500);
        let base = 1e9;
        for i in 0..=3000i64 {
            let t = i * 10;
            let mid2 = (base * (1.0 + 2e-4 * t as f64 / 1000.0)).round() as i64;
            k.on_mid(t, mid2);
        }
        assert!((k.velocity() - 2.0).abs() < 0.01, "{}", k.velocity());
        // Right after each 0.02 bp jump, v sits half a jump (0.02 bps/s)
        // above its running mean: a ripple of 0.02 / 1.5 s ≈ 0.013 bps/s².
        assert!(k.acceleration().abs() < 0.015, "{}", k.acceleration());
        // A parabola ½·α·t² with α = 0.4 bps/s² over 20 s (80 bps, so
        // returns relative to the moving mid shrink by < 1%), sampled every
        // 1 ms so that the sawtooth ripple (half a jump of v over τ_a) stays
        // below 0.006: a → 0.4.
        for (tv, ta) in [(500, 1500), (1000, 1000)] {
            let mut k = Kinematics::new(tv, ta);
            for i in 0..=20_000i64 {
                let t = i as f64 * 0.001;
                let mid2 = (1e12 * (1.0 + 1e-4 * 0.5 * 0.4 * t * t)).round() as i64;
                k.on_mid(i, mid2);
            }
            assert!((k.acceleration() - 0.4).abs() < 0.01, "{tv}/{ta}: {}", k.acceleration());
            assert!(k.warm());
        }
    }

    #[test]
    fn simultaneous_events_are_pure_jumps() {
        let mut k = Kinematics::new(1000, 2000);
        k.on_mid(0, 10_000);
        k.on_mid(0, 10_001);
        k.on_mid(0, 10_002);
        let expected = return_bps(10_000, 10_001) + return_bps(10_001, 10_002);
        assert!((k.velocity() - expected).abs() < 1e-12);
        assert!(k.velocity().is_finite() && k.acceleration().is_finite());
    }
}
