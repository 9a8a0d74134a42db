//! A seeded, self-contained pseudo-random generator whose output is the same
//! on every machine: xoshiro256** seeded through SplitMix64, with uniform,
//! exponential and geometric draws built only from integer operations and
//! correctly rounded IEEE-754 arithmetic (`+ − × ÷`).
//!
//! Algorithms: D. Blackman and S. Vigna, "Scrambled linear pseudorandom
//! number generators", ACM TOMS 47 (2021); reference code `xoshiro256starstar.c`
//! and `splitmix64.c` at <https://prng.di.unimi.it/> (public domain). The
//! tests check the first outputs against that reference code compiled with
//! gcc.
//!
//! # Why no `f64::ln`
//! `f64::ln` calls the platform's libm, whose last-bit rounding differs
//! between libms (glibc, musl, macOS). One differing bit in an exponential
//! waiting time can move an event across a millisecond boundary and change
//! the file. [`ln`] below uses only basic arithmetic, so the same seed gives
//! the same bytes everywhere. [`exp`] is built the same way, for the
//! decaying intensities of the model's self-exciting order flow.

/// SplitMix64 (Steele, Lea & Flood 2014): expands one `u64` seed into
/// well-mixed state words.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting at `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256**: 256 bits of state, period 2^256 − 1, passes BigCrush.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed` through SplitMix64 (never all-zero).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Self { s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()] }
    }

    /// An independent stream for one purpose (`stream` names it), so that
    /// what one part of the generator draws never shifts another part's
    /// numbers.
    #[must_use]
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut sm = SplitMix64::new(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        sm.next_u64();
        Self::new(sm.next_u64())
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`: never zero, so its logarithm is finite.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), by multiply-shift (Lemire 2019);
    /// the bias is below `n / 2^64`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Exponential waiting time with the given rate (mean `1 / rate`).
    #[inline]
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -ln(self.uniform_open0()) / rate
    }

    /// Number of failures before the first success of a Bernoulli(`p`)
    /// sequence (`0 < p ≤ 1`): mean `(1 − p) / p`.
    #[inline]
    pub fn geometric(&mut self, p: f64) -> u64 {
        if p >= 1.0 {
            return 0;
        }
        let k = ln(self.uniform_open0()) / ln(1.0 - p);
        if k >= 1e18 { 1_000_000_000_000_000_000 } else { k as u64 }
    }
}

/// `√2`, the upper end of the mantissa range used by [`ln`].
const SQRT2: f64 = std::f64::consts::SQRT_2;
/// `ln 2` split into a high part exact in 32 bits and the rest, so that
/// `k · LN2_HI` is exact for every exponent `k` of an `f64`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// Natural logarithm of a positive, finite, normal `x`, from basic
/// arithmetic only (deterministic on every platform): `x = 2^k · m` with
/// `m ∈ (√½, √2]`, `ln m = 2 atanh s` with `s = (m − 1)/(m + 1)`,
/// `|s| < 0.172`, summed to `s^23` (truncation error below 1e-19). Returns
/// NaN for zero, negative, subnormal or non-finite input.
#[must_use]
pub fn ln(x: f64) -> f64 {
    if !(x.is_finite() && x.is_normal() && x > 0.0) {
        return f64::NAN;
    }
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > SQRT2 {
        m *= 0.5;
        k += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut series = 1.0 / 23.0;
    for odd in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        series = series * s2 + 1.0 / odd;
    }
    let kf = k as f64;
    kf * LN2_HI + (kf * LN2_LO + 2.0 * s * series)
}

/// `1 / ln 2`.
const INV_LN2: f64 = std::f64::consts::LOG2_E;

/// `1 / n` for `n` = 1..=16 (each correctly rounded, the same everywhere).
const INV_N: [f64; 16] = [
    1.0,
    1.0 / 2.0,
    1.0 / 3.0,
    1.0 / 4.0,
    1.0 / 5.0,
    1.0 / 6.0,
    1.0 / 7.0,
    1.0 / 8.0,
    1.0 / 9.0,
    1.0 / 10.0,
    1.0 / 11.0,
    1.0 / 12.0,
    1.0 / 13.0,
    1.0 / 14.0,
    1.0 / 15.0,
    1.0 / 16.0,
];

/// `e^x` from basic arithmetic only (deterministic on every platform, like
/// [`ln`]): `x = k ln 2 + r` with `|r| ≤ ½ ln 2`, `e^r` by its Taylor series
/// to `r^16` (truncation error below 1e-19), times `2^k` set in the
/// exponent bits. Underflows to 0 below `−708` (no subnormals), overflows
/// to `+∞` above `709`; NaN in, NaN out.
#[must_use]
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    let k = (x * INV_LN2 + 0.5).floor();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Horner's scheme with the reciprocals as constants: a multiplication
    // per term, not a division (a division chain made this the model's
    // hottest loop).
    let mut series = 1.0;
    for inv in INV_N.iter().rev() {
        series = series * r * inv + 1.0;
    }
    // k is within −1022..=1023 here, so 2^k is a normal number.
    let two_k = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    series * two_k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of the reference C code (splitmix64.c, xoshiro256starstar.c),
    /// compiled with gcc -O2 and printed with `%016llx`.
    #[test]
    fn matches_reference_implementation() {
        let mut sm = SplitMix64::new(0);
        assert_eq!(
            [sm.next_u64(), sm.next_u64(), sm.next_u64()],
            [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
        );
        let mut r = Rng::new(0);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [0x99ec5f36cb75f2b4, 0xbf6e1f784956452a, 0x1a5f849d4933e6e0, 0x6aa594f1262d2d2c, 0xbba5ad4a1f842e59]
        );
        let mut r = Rng::new(42);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [0x15780b2e0c2ec716, 0x6104d9866d113a7e, 0xae17533239e499a1, 0xecb8ad4703b360a1, 0xfde6dc7fe2ec5e64]
        );
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = {
            let mut r = Rng::stream(7, 1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::stream(7, 2);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let a2: Vec<u64> = {
            let mut r = Rng::stream(7, 1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }

    #[test]
    fn ln_agrees_with_libm() {
        let mut r = Rng::new(1);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = match i % 4 {
                0 => r.uniform_open0(),
                1 => r.uniform_open0() * 1e-12,
                2 => 1.0 + (r.uniform() - 0.5) * 1e-6,
                _ => r.uniform_open0() * 1e9,
            };
            let (ours, libm) = (ln(x), x.ln());
            let err = (ours - libm).abs() / libm.abs().max(1e-300);
            if libm.abs() > 1e-10 {
                worst = worst.max(err);
            } else {
                assert!((ours - libm).abs() < 1e-22, "ln({x}) = {ours}, libm {libm}");
            }
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
        assert_eq!(ln(1.0), 0.0);
        assert!((ln(2.0) - std::f64::consts::LN_2).abs() < 1e-16);
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan() && ln(f64::INFINITY).is_nan() && ln(f64::NAN).is_nan());
    }

    #[test]
    fn exp_agrees_with_libm() {
        let mut r = Rng::new(2);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = match i % 4 {
                0 => -r.uniform() * 50.0,
                1 => (r.uniform() - 0.5) * 1e-6,
                2 => -r.uniform() * 700.0,
                _ => (r.uniform() - 0.5) * 1400.0,
            };
            let (ours, libm) = (exp(x), x.exp());
            if libm.is_normal() {
                worst = worst.max((ours - libm).abs() / libm);
            }
        }
        assert!(worst < 1e-14, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-800.0), 0.0);
        assert!(exp(710.0).is_infinite() && exp(f64::NAN).is_nan());
        assert!((exp(1.0) - std::f64::consts::E).abs() < 1e-15);
        assert!((exp(-708.0) / (-708.0f64).exp() - 1.0).abs() < 1e-13);
    }

    #[test]
    fn draws_have_the_right_means() {
        let mut r = Rng::new(3);
        let n = 200_000;
        let mean_exp: f64 = (0..n).map(|_| r.exponential(4.0)).sum::<f64>() / f64::from(n);
        assert!((mean_exp - 0.25).abs() < 0.005, "exponential mean {mean_exp}");
        let mean_geo: f64 = (0..n).map(|_| r.geometric(0.2) as f64).sum::<f64>() / f64::from(n);
        assert!((mean_geo - 4.0).abs() < 0.08, "geometric mean {mean_geo}");
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "below(7) counts {counts:?}");
        let u: Vec<f64> = (0..1000).map(|_| r.uniform()).collect();
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert_eq!(r.geometric(1.0), 0);
    }
}
