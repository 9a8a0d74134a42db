//! The risk verdict: one 64-bit word the risk thread publishes and the hot
//! thread reads on every iteration.
//!
//! # Layout of the word (`u64`, little end first)
//! | bits    | field              | meaning |
//! |---------|--------------------|---------|
//! | 0..8    | [`Mode`]           | 0 run, 1 reduce-only, 2 halt, 3 flatten |
//! | 8..16   | [`Cause`]          | why the mode is what it is (0 none) |
//! | 16..32  | size cap, permille | largest opening order as ‰ of the configured max order size (1000 = no cap) |
//! | 32..64  | sequence           | incremented on every publish (wraps), so a reader sees a change cheaply |
//!
//! A single word means a single atomic load and no torn reads: the hot
//! thread never sees a mode from one decision with a cap from another. The
//! risk thread is the only writer ([`VerdictCell::publish`]), so a
//! `Release` store suffices; readers use `Acquire`.
//!
//! # What each mode lets through the gate
//! - `Run`: every order that passes the limits, with opening size capped.
//! - `ReduceOnly`: only orders that reduce an existing position.
//! - `Halt`: as `ReduceOnly` at the gate; in addition the engine cancels its
//!   resting orders and the strategy stops opening. Positions stay
//!   protected by reduce-only exits, never trapped.
//! - `Flatten`: as `ReduceOnly` at the gate; in addition the engine cancels
//!   everything and closes every position now (the risk thread also sends
//!   `CancelAll` / `FlattenAll` commands on the command ring).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// What the hot thread may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Mode {
    /// Trade normally.
    Run = 0,
    /// Only reduce positions.
    ReduceOnly = 1,
    /// Stop opening, cancel resting orders, keep exits.
    Halt = 2,
    /// Cancel everything and close every position.
    Flatten = 3,
}

impl Mode {
    /// Decodes the mode byte; unknown values read as `Flatten`, the safest.
    #[must_use]
    pub const fn from_u8(byte: u8) -> Self {
        match byte {
            0 => Mode::Run,
            1 => Mode::ReduceOnly,
            2 => Mode::Halt,
            _ => Mode::Flatten,
        }
    }

    /// Lower-case name for output.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::ReduceOnly => "reduce-only",
            Mode::Halt => "halt",
            Mode::Flatten => "flatten",
        }
    }
}

/// Why the risk thread chose its mode or cap (the breaker that tripped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cause {
    /// Nothing tripped.
    None = 0,
    /// Daily loss limit reached.
    DailyLoss = 1,
    /// Weekly loss limit reached.
    WeeklyLoss = 2,
    /// Too many losing trades in a row.
    ConsecutiveLosses = 3,
    /// Equity drawdown from its peak reached the pause threshold.
    Drawdown = 4,
    /// Price moved too far too fast.
    FlashCrash = 5,
    /// Margin ratio reached the size-reduction threshold.
    MarginReduce = 6,
    /// Margin ratio reached the reduce-only threshold.
    MarginReduceOnly = 7,
    /// Kill switch: file.
    KillFile = 8,
    /// Kill switch: signal (SIGTERM, SIGUSR1).
    KillSignal = 9,
    /// Kill switch: asked for by the engine or an operator command.
    KillCommand = 10,
    /// Before the risk thread's first publish (hot thread starts halted).
    Startup = 11,
    /// A position outlived its timeout (a trip record, not a mode).
    PositionTimeout = 12,
    /// The day's profit target was reached: no new entries until the next UTC day.
    DailyProfit = 13,
    /// Too many losing trades in a row, with `consecutive_losses_action =
    /// "cut-size"`: opening size capped until a winning trade.
    LossStreakCut = 14,
}

impl Cause {
    /// Every cause, by code.
    pub const ALL: [Cause; 15] = [
        Cause::None,
        Cause::DailyLoss,
        Cause::WeeklyLoss,
        Cause::ConsecutiveLosses,
        Cause::Drawdown,
        Cause::FlashCrash,
        Cause::MarginReduce,
        Cause::MarginReduceOnly,
        Cause::KillFile,
        Cause::KillSignal,
        Cause::KillCommand,
        Cause::Startup,
        Cause::PositionTimeout,
        Cause::DailyProfit,
        Cause::LossStreakCut,
    ];

    /// Decodes a cause byte; `None` for unknown codes.
    #[must_use]
    pub fn from_u8(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte)).copied()
    }

    /// Lower-case name for output.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Cause::None => "none",
            Cause::DailyLoss => "daily-loss",
            Cause::WeeklyLoss => "weekly-loss",
            Cause::ConsecutiveLosses => "consecutive-losses",
            Cause::Drawdown => "drawdown",
            Cause::FlashCrash => "flash-crash",
            Cause::MarginReduce => "margin-reduce",
            Cause::MarginReduceOnly => "margin-reduce-only",
            Cause::KillFile => "kill-file",
            Cause::KillSignal => "kill-signal",
            Cause::KillCommand => "kill-command",
            Cause::Startup => "startup",
            Cause::PositionTimeout => "position-timeout",
            Cause::DailyProfit => "daily-profit",
            Cause::LossStreakCut => "loss-streak-size-cut",
        }
    }
}

/// Size cap meaning "no cap".
pub const FULL_SIZE_PERMILLE: u16 = 1000;

/// A decoded verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// What is allowed.
    pub mode: Mode,
    /// Why.
    pub cause: Cause,
    /// Largest opening order as ‰ of the configured maximum (≤ 1000).
    pub size_cap_permille: u16,
    /// Publish sequence number.
    pub seq: u32,
}

impl Verdict {
    /// Trade normally, no cap.
    pub const RUN: Self = Self { mode: Mode::Run, cause: Cause::None, size_cap_permille: FULL_SIZE_PERMILLE, seq: 0 };

    /// The state before the risk thread has spoken: halted.
    pub const STARTUP: Self = Self { mode: Mode::Halt, cause: Cause::Startup, size_cap_permille: 0, seq: 0 };

    /// Packs into the atomic word (layout in the module docs). Caps above
    /// 1000 are clamped to 1000.
    #[must_use]
    pub const fn pack(self) -> u64 {
        let cap = if self.size_cap_permille > FULL_SIZE_PERMILLE { FULL_SIZE_PERMILLE } else { self.size_cap_permille };
        (self.mode as u64) | ((self.cause as u64) << 8) | ((cap as u64) << 16) | ((self.seq as u64) << 32)
    }

    /// Unpacks a word. Unknown mode bytes read as `Flatten`, unknown causes
    /// as `None`, caps above 1000 as 1000.
    #[must_use]
    pub fn unpack(word: u64) -> Self {
        let cap = ((word >> 16) & 0xFFFF) as u16;
        Self {
            mode: Mode::from_u8((word & 0xFF) as u8),
            cause: Cause::from_u8(((word >> 8) & 0xFF) as u8).unwrap_or(Cause::None),
            size_cap_permille: cap.min(FULL_SIZE_PERMILLE),
            seq: (word >> 32) as u32,
        }
    }

    /// Same decision, ignoring the sequence number.
    #[must_use]
    pub fn same_decision(&self, other: &Self) -> bool {
        self.mode == other.mode && self.cause == other.cause && self.size_cap_permille == other.size_cap_permille
    }
}

/// The shared cell holding the verdict word, alone on its cache line.
#[derive(Debug)]
pub struct VerdictCell {
    word: CachePadded<AtomicU64>,
}

impl Default for VerdictCell {
    fn default() -> Self {
        Self::new()
    }
}

impl VerdictCell {
    /// A cell holding [`Verdict::STARTUP`]: nothing trades until the risk
    /// thread publishes.
    #[must_use]
    pub fn new() -> Self {
        Self { word: CachePadded::new(AtomicU64::new(Verdict::STARTUP.pack())) }
    }

    /// Reads the current verdict (one `Acquire` load).
    #[inline]
    #[must_use]
    pub fn load(&self) -> Verdict {
        Verdict::unpack(self.word.load(Ordering::Acquire))
    }

    /// The raw word.
    #[inline]
    #[must_use]
    pub fn load_word(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    /// Publishes `verdict` with the next sequence number and returns what
    /// was stored. Single writer: the risk thread.
    pub fn publish(&self, verdict: Verdict) -> Verdict {
        let prev = Verdict::unpack(self.word.load(Ordering::Relaxed));
        let stored = Verdict { seq: prev.seq.wrapping_add(1), ..verdict };
        self.word.store(stored.pack(), Ordering::Release);
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_is_as_documented() {
        let v = Verdict { mode: Mode::Flatten, cause: Cause::FlashCrash, size_cap_permille: 500, seq: 0xDEAD_BEEF };
        let word = v.pack();
        assert_eq!(word & 0xFF, 3);
        assert_eq!((word >> 8) & 0xFF, 5);
        assert_eq!((word >> 16) & 0xFFFF, 500);
        assert_eq!(word >> 32, 0xDEAD_BEEF);
        assert_eq!(Verdict::unpack(word), v);
    }

    #[test]
    fn unknown_bytes_decode_safely() {
        let v = Verdict::unpack(0xFF | (0xFF << 8) | (0xFFFF << 16));
        assert_eq!(v.mode, Mode::Flatten);
        assert_eq!(v.cause, Cause::None);
        assert_eq!(v.size_cap_permille, FULL_SIZE_PERMILLE);
    }

    #[test]
    fn cell_starts_halted_and_sequences_publishes() {
        let cell = VerdictCell::new();
        assert_eq!(cell.load().mode, Mode::Halt);
        assert_eq!(cell.load().cause, Cause::Startup);
        let a = cell.publish(Verdict::RUN);
        let b = cell.publish(Verdict::RUN);
        assert_eq!(a.seq + 1, b.seq);
        assert_eq!(cell.load(), b);
        assert!(a.same_decision(&b));
    }

    proptest! {
        #[test]
        fn pack_round_trips(mode in 0u8..4, cause in 0usize..Cause::ALL.len(), cap in 0u16..=1000, seq in any::<u32>()) {
            let v = Verdict { mode: Mode::from_u8(mode), cause: Cause::ALL[cause], size_cap_permille: cap, seq };
            prop_assert_eq!(Verdict::unpack(v.pack()), v);
        }
    }
}
