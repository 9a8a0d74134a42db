//! Latency draws for the simulated links: constant, or uniform with
//! replacement from recorded samples using a seeded SplitMix64 generator
//! (Steele, Lea & Flood, "Fast Splittable Pseudorandom Number Generators",
//! OOPSLA 2014), so the same seed gives the same run on every machine.
//!
//! Deliveries on one link never overtake each other (a TCP stream keeps
//! order): [`Link::deliver_at`] returns `max(send + latency, last delivery)`.

use crate::backtest::config::LatencyModel;

/// SplitMix64: tiny, full-period, and exactly reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`), by Lemire's multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// One simulated one-way link.
#[derive(Debug, Clone)]
pub struct Link {
    model: LatencyModel,
    rng: SplitMix64,
    last_ns: u64,
}

impl Link {
    /// A link with the given latency model.
    #[must_use]
    pub fn new(model: LatencyModel) -> Self {
        let seed = match &model {
            LatencyModel::Constant(_) => 0,
            LatencyModel::Samples { seed, .. } => *seed,
        };
        Self { model, rng: SplitMix64::new(seed), last_ns: 0 }
    }

    /// The next latency draw, ns.
    pub fn draw(&mut self) -> u64 {
        match &self.model {
            LatencyModel::Constant(ns) => *ns,
            LatencyModel::Samples { samples_ns, .. } => samples_ns[self.rng.below(samples_ns.len())],
        }
    }

    /// When something sent at `send_ns` arrives (in order with earlier sends).
    pub fn deliver_at(&mut self, send_ns: u64) -> u64 {
        let at = send_ns.saturating_add(self.draw()).max(self.last_ns);
        self.last_ns = at;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0 (the published SplitMix64 test vector).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn samples_are_drawn_reproducibly_and_in_order() {
        let model = LatencyModel::Samples { samples_ns: vec![1_000, 50_000, 900_000], seed: 42, file: "x".into() };
        let mut a = Link::new(model.clone());
        let mut b = Link::new(model);
        let draws: Vec<u64> = (0..200).map(|_| a.draw()).collect();
        assert_eq!(draws, (0..200).map(|_| b.draw()).collect::<Vec<_>>());
        for s in [1_000, 50_000, 900_000] {
            assert!(draws.contains(&s), "sample {s} never drawn");
        }
        // Deliveries never overtake.
        let mut link = Link::new(LatencyModel::Samples { samples_ns: vec![10, 1_000], seed: 1, file: "x".into() });
        let mut last = 0;
        for t in 0..100 {
            let at = link.deliver_at(t);
            assert!(at >= last && at >= t + 10);
            last = at;
        }
    }

    #[test]
    fn constant_latency() {
        let mut link = Link::new(LatencyModel::Constant(250_000));
        assert_eq!(link.deliver_at(1_000_000), 1_250_000);
        assert_eq!(link.deliver_at(1_000_001), 1_250_001);
    }
}
