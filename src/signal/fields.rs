//! Which fields of a [`SignalSnapshot`](crate::signal::SignalSnapshot) a
//! signal source actually computes (re-exported by the strategy, which
//! resolves its votes and gates against it).
//!
//! A snapshot field that its source never fills reads `0.0` (or `None`),
//! which is indistinguishable from a real zero. The strategy therefore asks
//! the source once, at construction, which field groups it provides, and
//! resolves every vote and gate against that: a vote whose input is not
//! provided uses its configured fallback input or abstains, and a gate
//! whose input is not provided is *skipped* (and reported as skipped),
//! rather than silently passing or silently blocking everything.

use std::fmt;

/// A set of snapshot field groups, as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignalFields(u32);

impl SignalFields {
    /// `mid`, `microprice`, `spread_ticks`, `spread_bps`, `tob_imbalance`.
    pub const BOOK: Self = Self(1 << 0);
    /// `depth_imbalance`.
    pub const DEPTH_IMBALANCE: Self = Self(1 << 1);
    /// `ofi`.
    pub const OFI: Self = Self(1 << 2);
    /// `ofi_multi`.
    pub const OFI_MULTI: Self = Self(1 << 3);
    /// `signed_volume`.
    pub const SIGNED_VOLUME: Self = Self(1 << 4);
    /// `volume_surge`.
    pub const VOLUME_SURGE: Self = Self(1 << 5);
    /// `vwap`, `vwap_dev_bps`, `vwap_dev_sigma`.
    pub const VWAP: Self = Self(1 << 6);
    /// `volatility_bps`.
    pub const VOLATILITY: Self = Self(1 << 7);
    /// `velocity_bps_s`, `acceleration_bps_s2`.
    pub const ACCELERATION: Self = Self(1 << 8);
    /// `ou_theta`, `ou_mu`, `ou_sigma`, `ou_zscore`, `ou_drift`.
    pub const OU: Self = Self(1 << 9);
    /// `funding_rate`, `ms_to_funding`, `funding_bias`.
    pub const FUNDING: Self = Self(1 << 10);
    /// `liq_*`, `cascade`.
    pub const CASCADE: Self = Self(1 << 11);
    /// `regime`.
    pub const REGIME: Self = Self(1 << 12);
    /// `momentum_short_bps`, `momentum_long_bps`, `momentum_aligned`.
    pub const MOMENTUM: Self = Self(1 << 13);
    /// `warm` means every field above is meaningful.
    pub const WARM_FLAG: Self = Self(1 << 14);
    /// `atr`, `atr_bps`.
    pub const ATR: Self = Self(1 << 15);
    /// `range_*`, `breakout*`, `pullback`, `swing_*`.
    pub const RANGE: Self = Self(1 << 16);
    /// `open_interest`, `oi_change_pct`, `oi_price_change_bps`.
    pub const OPEN_INTEREST: Self = Self(1 << 17);

    /// Every group: what a complete signal implementation provides.
    pub const ALL: Self = Self((1 << 18) - 1);

    /// Every group with its name, in a fixed order (reports).
    pub const NAMED: [(Self, &'static str); 18] = [
        (Self::BOOK, "book"),
        (Self::DEPTH_IMBALANCE, "depth_imbalance"),
        (Self::OFI, "ofi"),
        (Self::OFI_MULTI, "ofi_multi"),
        (Self::SIGNED_VOLUME, "signed_volume"),
        (Self::VOLUME_SURGE, "volume_surge"),
        (Self::VWAP, "vwap"),
        (Self::VOLATILITY, "volatility"),
        (Self::ACCELERATION, "acceleration"),
        (Self::OU, "ou"),
        (Self::FUNDING, "funding"),
        (Self::CASCADE, "cascade"),
        (Self::REGIME, "regime"),
        (Self::MOMENTUM, "momentum"),
        (Self::WARM_FLAG, "warm"),
        (Self::ATR, "atr"),
        (Self::RANGE, "range"),
        (Self::OPEN_INTEREST, "open_interest"),
    ];

    /// No group.
    pub const NONE: Self = Self(0);

    /// `true` when every group of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Names of the groups *not* in `self`, in [`Self::NAMED`] order.
    pub fn missing(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED.into_iter().filter(move |(g, _)| !self.contains(*g)).map(|(_, n)| n)
    }
}

impl fmt::Debug for SignalFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        for (g, name) in Self::NAMED {
            if self.contains(g) {
                list.entry(&name);
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_contains_every_named_group() {
        for (g, _) in SignalFields::NAMED {
            assert!(SignalFields::ALL.contains(g));
            assert!(!SignalFields::NONE.contains(g));
        }
        assert_eq!(SignalFields::ALL.missing().count(), 0);
        let book = SignalFields::BOOK.with(SignalFields::SIGNED_VOLUME);
        assert!(book.contains(SignalFields::BOOK) && !book.contains(SignalFields::OFI));
        assert_eq!(book.missing().count(), 16);
    }
}
