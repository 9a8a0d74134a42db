//! What the core asks the outside to do: gate-checked order intents, in a
//! caller-owned, fixed-capacity buffer.
//!
//! The live engine encodes and signs each [`Intent`] for its transport; the
//! backtest hands them to its simulated exchange. An intent that cannot be
//! sent must be reported back ([`crate::core::Core::on_send_failed`]) so the
//! ledger, the gate and the strategy stay consistent.
//!
//! # Invariants
//! - The buffer never grows. When it is full the core does not emit: a
//!   place is rolled back as if the gate had refused it, a cancel is
//!   proposed again on the next decision; both are counted
//!   ([`crate::core::CoreStats::intents_full`]). Size it with
//!   [`crate::core::Core::intents_capacity`] and it is never full.
//! - Every `Place` has passed the inline risk gate and is in the ledger as
//!   `Submitted` before it is handed out.

use crate::instrument::{InstrumentId, Symbol, Venue};
use crate::order::{ClientOrderId, OrderRequest};
use crate::strategy::{ExitReason, Tier};

/// What an order is for (reports, journals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRole {
    /// Opening a position.
    Entry {
        /// Tier.
        tier: Tier,
        /// Confidence at the decision, 0–100.
        confidence: u8,
        /// Post-only limit (else market).
        post_only: bool,
    },
    /// Closing (part of) it.
    Exit(ExitReason),
}

/// One thing to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Place this order (already rounded by the strategy, checked by the
    /// gate, recorded in the ledger).
    Place {
        /// The instrument.
        inst: InstrumentId,
        /// The order, with its client id.
        order: OrderRequest,
        /// What it is for.
        role: OrderRole,
    },
    /// Cancel this order.
    Cancel {
        /// The instrument.
        inst: InstrumentId,
        /// Its venue.
        venue: Venue,
        /// Its symbol.
        symbol: Symbol,
        /// The order.
        client_id: ClientOrderId,
    },
}

impl Intent {
    /// The instrument it is about.
    #[must_use]
    pub fn inst(&self) -> InstrumentId {
        match self {
            Intent::Place { inst, .. } | Intent::Cancel { inst, .. } => *inst,
        }
    }

    /// The order it is about.
    #[must_use]
    pub fn client_id(&self) -> ClientOrderId {
        match self {
            Intent::Place { order, .. } => order.client_id,
            Intent::Cancel { client_id, .. } => *client_id,
        }
    }
}

/// A caller-owned, fixed-capacity list of intents (module docs).
#[derive(Debug, Clone)]
pub struct Intents {
    items: Box<[Option<Intent>]>,
    len: usize,
}

impl Intents {
    /// Room for `capacity` intents, allocated now.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self { items: vec![None; capacity.max(1)].into_boxed_slice(), len: 0 }
    }

    /// How many it holds at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.items.len()
    }

    /// How many it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` when no more fit.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len == self.items.len()
    }

    /// Appends one; hands it back when full.
    ///
    /// # Errors
    /// The intent itself, when the buffer is full.
    pub fn push(&mut self, intent: Intent) -> Result<(), Intent> {
        let Some(slot) = self.items.get_mut(self.len) else { return Err(intent) };
        *slot = Some(intent);
        self.len += 1;
        Ok(())
    }

    /// The intents, in the order they were emitted.
    pub fn iter(&self) -> impl Iterator<Item = &Intent> + '_ {
        self.items[..self.len].iter().flatten()
    }

    /// Empties the buffer (keeps its room).
    pub fn clear(&mut self) {
        self.items[..self.len].fill(None);
        self.len = 0;
    }

    /// Takes the intents out in order, leaving the buffer empty.
    pub fn drain(&mut self) -> impl Iterator<Item = Intent> + '_ {
        let n = self.len;
        self.len = 0;
        self.items[..n].iter_mut().filter_map(Option::take)
    }
}
