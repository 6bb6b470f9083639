//! Intrusive doubly linked lists of spans, threaded through the head
//! metadata's `prev`/`next` links (slab index + 1, 0 = none). One type for
//! every list a span can be on: a heap's partial, full and retired lists
//! and the pool's adoptable orphans. Every list records itself in the
//! span's `list` field, so a span is on at most one list and knows which.
//!
//! A list has one writer at a time (its heap's thread, or the holder of
//! the lock guarding it); its fields are atomics so that statistics may
//! read them from elsewhere without a data race.

use crate::region::{link, link_of};
use crate::slab::{List, SlabMeta};
use crate::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub struct SlabList {
    head: AtomicU32,
    tail: AtomicU32,
    len: AtomicU32,
}

impl SlabList {
    pub const fn new() -> Self {
        SlabList {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            len: AtomicU32::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len.load(Relaxed) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.head.load(Relaxed) == 0
    }

    /// The first span (most recently pushed to the front).
    pub fn front(&self) -> Option<&'static SlabMeta> {
        link(self.head.load(Relaxed))
    }

    /// The last span (the oldest pushed to the front).
    pub fn back(&self) -> Option<&'static SlabMeta> {
        link(self.tail.load(Relaxed))
    }

    /// Add `m` at the front and record `tag` as its list.
    pub fn push_front(&self, m: &'static SlabMeta, tag: List) {
        let me = link_of(m);
        let h = self.head.load(Relaxed);
        m.prev.store(0, Relaxed);
        m.next.store(h, Relaxed);
        match link(h) {
            Some(n) => n.prev.store(me, Relaxed),
            None => self.tail.store(me, Relaxed),
        }
        self.head.store(me, Relaxed);
        self.len.store(self.len.load(Relaxed) + 1, Relaxed);
        m.list.set(tag);
    }

    /// Add `m` at the back and record `tag` as its list.
    pub fn push_back(&self, m: &'static SlabMeta, tag: List) {
        let me = link_of(m);
        let t = self.tail.load(Relaxed);
        m.next.store(0, Relaxed);
        m.prev.store(t, Relaxed);
        match link(t) {
            Some(p) => p.next.store(me, Relaxed),
            None => self.head.store(me, Relaxed),
        }
        self.tail.store(me, Relaxed);
        self.len.store(self.len.load(Relaxed) + 1, Relaxed);
        m.list.set(tag);
    }

    /// Remove `m`, which the caller knows is on this list.
    pub fn unlink(&self, m: &'static SlabMeta) {
        let prev = m.prev.load(Relaxed);
        let next = m.next.load(Relaxed);
        match link(prev) {
            Some(p) => p.next.store(next, Relaxed),
            None => self.head.store(next, Relaxed),
        }
        match link(next) {
            Some(n) => n.prev.store(prev, Relaxed),
            None => self.tail.store(prev, Relaxed),
        }
        m.prev.store(0, Relaxed);
        m.next.store(0, Relaxed);
        self.len
            .store(self.len.load(Relaxed).saturating_sub(1), Relaxed);
        m.list.set(List::Free);
    }

    pub fn pop_front(&self) -> Option<&'static SlabMeta> {
        let m = self.front()?;
        self.unlink(m);
        Some(m)
    }

    pub fn pop_back(&self) -> Option<&'static SlabMeta> {
        let m = self.back()?;
        self.unlink(m);
        Some(m)
    }

    /// The span after `m` on its list.
    pub fn next_of(m: &SlabMeta) -> Option<&'static SlabMeta> {
        link(m.next.load(Relaxed))
    }

    /// The span before `m` on its list.
    pub fn prev_of(m: &SlabMeta) -> Option<&'static SlabMeta> {
        link(m.prev.load(Relaxed))
    }
}

impl Default for SlabList {
    fn default() -> Self {
        Self::new()
    }
}
