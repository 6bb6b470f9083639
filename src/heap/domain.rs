//! Epoch domains (the spec's Phase 3, with its 2025-02-07 fixes): a
//! thread-scoped scope whose allocations land in an epoch of its own, so a
//! request's (or a frame's, a transaction's) memory empties together and
//! goes back when the scope closes. Domains nest (a stack of up to
//! [`DEPTH`] per thread, LIFO); entering the innermost domain again by its
//! label counts a reference; the outermost exit of a domain (its count
//! falling to zero) closes its epoch; `force_close` closes the innermost
//! domain whatever its count. Every operation acts on the calling thread's
//! own stack, so another thread can never close a domain it does not own:
//! misuse is refused with an error, never a corruption.
//!
//! Entering or leaving a domain retires the heap's current spans (the
//! epoch being left receives no new objects from this thread), exactly as
//! an epoch advance does.

use super::Heap;
use crate::epoch;
use core::sync::atomic::Ordering::Relaxed;

/// Nesting depth of a thread's domains.
pub const DEPTH: usize = 32;

/// Why a domain operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainError {
    /// `exit` (or `force_close`) with no domain entered on this thread.
    NotEntered,
    /// More than [`DEPTH`] nested domains.
    TooDeep,
    /// `force_close` of a domain that is not this thread's innermost.
    NotInnermost,
}

impl Heap {
    fn top(&self) -> Option<usize> {
        self.depth.load(Relaxed).checked_sub(1)
    }

    /// Enter a domain labelled `label`: the innermost one again if it has
    /// that label, else a new one nested in it. Returns its id (its era).
    pub fn domain_enter(&self, label: &[u8]) -> Result<u64, DomainError> {
        if let Some(t) = self.top() {
            let era = self.domains[t % DEPTH].load(Relaxed);
            let slot = epoch::slot(epoch::index(era));
            let cur = epoch::label(epoch::index(era));
            let n = cur.iter().position(|&b| b == 0).unwrap_or(cur.len());
            if slot.era.load(Relaxed) == era && !label.is_empty() && cur.get(..n) == Some(label) {
                let r = &self.domain_refs[t % DEPTH];
                r.store(r.load(Relaxed) + 1, Relaxed);
                return Ok(era);
            }
        }
        let d = self.depth.load(Relaxed);
        if d >= DEPTH {
            return Err(DomainError::TooDeep);
        }
        let era = epoch::open_domain(label);
        self.domains[d].store(era, Relaxed);
        self.domain_refs[d].store(1, Relaxed);
        self.depth.store(d + 1, Relaxed);
        self.switch_epoch();
        Ok(era)
    }

    /// Leave the innermost domain. Returns the era of the domain if this
    /// closed it (its count fell to zero), 0 if it is still entered.
    pub fn domain_exit(&self) -> Result<u64, DomainError> {
        let t = self.top().ok_or(DomainError::NotEntered)?;
        let r = &self.domain_refs[t % DEPTH];
        let n = r.load(Relaxed).saturating_sub(1);
        r.store(n, Relaxed);
        if n > 0 {
            return Ok(0);
        }
        Ok(self.pop())
    }

    /// Close the innermost domain `id` whatever its count.
    pub fn domain_force_close(&self, id: u64) -> Result<u64, DomainError> {
        let t = self.top().ok_or(DomainError::NotEntered)?;
        if self.domains[t % DEPTH].load(Relaxed) != id {
            return Err(DomainError::NotInnermost);
        }
        Ok(self.pop())
    }

    /// The innermost domain's id, or 0 outside any.
    pub fn domain_current(&self) -> u64 {
        self.top()
            .map_or(0, |t| self.domains[t % DEPTH].load(Relaxed))
    }

    fn pop(&self) -> u64 {
        let t = self.depth.load(Relaxed) - 1;
        let era = self.domains[t % DEPTH].load(Relaxed);
        self.depth.store(t, Relaxed);
        self.domain_refs[t % DEPTH].store(0, Relaxed);
        // Back to the enclosing domain's (or the global) epoch; the closed
        // domain's spans are retired and empty as its objects die.
        self.switch_epoch();
        epoch::close_era(era);
        era
    }
}

/// Close every domain a heap left open (its thread exits).
pub fn close_all(h: &Heap) {
    while h.top().is_some() {
        h.pop();
    }
}
