//! Pages as the unit of memory return. Each slab's metadata keeps a mask of
//! its pages that may be resident: a page is marked when objects on it are
//! handed out of a bitmap (or a huge block covering it is allocated) and
//! cleared when zslab gives it back to the OS. Two operations:
//!
//! - [`purge_free`]: give back the pages of a span in use that hold no live
//!   object (objects straddling a page boundary count for both pages), in
//!   partly used spans, spans of closed epochs and orphans alike;
//! - [`purge_all`]: give back every page of an empty span, a huge block or
//!   a free run.
//!
//! Both run with the span lock held (objects are handed out of a bitmap only
//! under that lock), by the owner or by any other thread. How pages go back
//! is `ZSLAB_RECLAIM`: `MADV_DONTNEED` (RSS drops at once), `MADV_FREE`
//! (the kernel takes them when it needs memory), or kept.

use crate::config::Reclaim;
use crate::counters::{self, COUNTERS, add, add_u, inc};
use crate::os::{self, PAGE};
use crate::region;
use crate::sizeclass::{SLAB_PAGES, SLAB_SIZE};
use crate::slab::{SlabMeta, Taken};
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

static POLICY: AtomicU8 = AtomicU8::new(0);

/// Apply `ZSLAB_RECLAIM`. Called once during initialisation.
pub fn configure(policy: Reclaim) {
    POLICY.store(
        match policy {
            Reclaim::DontNeed => 0,
            Reclaim::Free => 1,
            Reclaim::Off => 2,
        },
        Relaxed,
    );
}

fn advice() -> Option<libc::c_int> {
    match POLICY.load(Relaxed) {
        0 => Some(libc::MADV_DONTNEED),
        1 => Some(libc::MADV_FREE),
        _ => None,
    }
}

/// Whether a page given back reads as zero when touched again
/// (`MADV_DONTNEED` on private anonymous memory).
pub fn zero_on_return() -> bool {
    POLICY.load(Relaxed) == 0
}

/// Whether pages are given back at all (`ZSLAB_RECLAIM` is not `off`).
pub fn returning() -> bool {
    advice().is_some()
}

/// Give `[addr, addr+len)` back to the OS, `resident` bytes of which were
/// committed. Counts the call and the bytes (globally and for `epoch`) and
/// returns whether it succeeded; a failure is counted and harmless.
fn give_back(addr: usize, len: usize, resident: usize, epoch: usize) -> bool {
    let Some(a) = advice() else { return false };
    let e = counters::epoch(epoch);
    inc(&COUNTERS.madvise_calls);
    inc(&e.madvise_calls);
    if os::advise(addr, len, a) {
        add_u(&COUNTERS.madvise_bytes, resident as u64);
        add_u(&e.madvise_bytes, resident as u64);
        true
    } else {
        inc(&COUNTERS.madvise_failures);
        false
    }
}

/// Mark the pages of objects just taken out of span `head`'s bitmap as
/// resident. Returns how many were not resident before (they will fault in
/// when touched). Call with the span lock held.
pub fn commit_taken(head: &SlabMeta, t: Taken) -> usize {
    let (first, last) = head.pages_of(t);
    let mut fresh = 0;
    for (k, want) in slab_masks(first, last + 1) {
        if let Some(s) = region::nth(head, k) {
            let r = s.resident.load(Relaxed);
            if r & want != want {
                fresh += (want & !r).count_ones() as usize;
                s.resident.store(r | want, Relaxed);
            }
        }
    }
    if fresh > 0 {
        counters::span_pages(
            head.class.load(Relaxed) as usize,
            head.epoch.load(Relaxed) as usize,
            fresh as i64,
        );
    }
    fresh
}

/// Resident pages of the `slabs` slabs starting at `head`.
pub fn resident_pages(head: &SlabMeta, slabs: usize) -> usize {
    (0..slabs)
        .filter_map(|k| region::nth(head, k))
        .map(|s| s.resident.load(Relaxed).count_ones() as usize)
        .sum()
}

/// Give back the pages of active span `head` that hold no live object.
/// Returns the bytes given back. Call with the span lock held.
pub fn purge_free(head: &SlabMeta) -> usize {
    if !returning() {
        return 0;
    }
    let slabs = head.span.load(Relaxed) as usize;
    let base = head.base.load(Relaxed);
    let epoch = head.epoch.load(Relaxed) as usize;
    let mut returned = 0;
    // Contiguous runs of returnable pages across the span's slabs become
    // one madvise each.
    let mut run: Option<(usize, usize)> = None; // (first page, pages)
    let flush = |run: &mut Option<(usize, usize)>, returned: &mut usize| {
        if let Some((first, n)) = run.take() {
            if give_back(base + first * PAGE, n * PAGE, n * PAGE, epoch) {
                *returned += n * PAGE;
                clear_resident(head, first, n);
            }
        }
    };
    for k in 0..slabs {
        let Some(s) = region::nth(head, k) else { break };
        let r = s.resident.load(Relaxed);
        let cand = if r == 0 { 0 } else { r & head.free_pages(k) };
        for j in 0..SLAB_PAGES {
            let page = k * SLAB_PAGES + j;
            if cand & (1 << j) != 0 {
                run = match run {
                    Some((f, n)) => Some((f, n + 1)),
                    None => Some((page, 1)),
                };
            } else if run.is_some() {
                flush(&mut run, &mut returned);
            }
        }
    }
    flush(&mut run, &mut returned);
    if returned > 0 {
        let class = head.class.load(Relaxed) as usize;
        counters::span_pages(class, epoch, -((returned / PAGE) as i64));
        inc(&COUNTERS.purges);
        add_u(&COUNTERS.purged_bytes, returned as u64);
        add_u(&counters::class(class).purged_bytes, returned as u64);
        head.purged_at.store(os::now_coarse_ms(), Relaxed);
    }
    returned
}

/// Clear the resident bits of `n` pages starting at span page `first`.
fn clear_resident(head: &SlabMeta, first: usize, n: usize) {
    for (k, mask) in slab_masks(first, first + n) {
        if let Some(s) = region::nth(head, k) {
            s.resident.store(s.resident.load(Relaxed) & !mask, Relaxed);
        }
    }
}

/// Span pages `first..end` cut at slab boundaries: `(k, mask)` for each
/// slab `k` they touch, lowest first, `mask` naming the slab's pages among
/// them (bit `j` = page `k * SLAB_PAGES + j`).
pub(crate) fn slab_masks(first: usize, end: usize) -> impl Iterator<Item = (usize, u16)> {
    let mut j = first;
    core::iter::from_fn(move || {
        if j >= end {
            return None;
        }
        let k = j / SLAB_PAGES;
        let lo = j % SLAB_PAGES;
        let hi = (end - k * SLAB_PAGES).min(SLAB_PAGES) - 1;
        j = (k + 1) * SLAB_PAGES;
        Some((k, ((u32::MAX >> (31 - hi)) & (u32::MAX << lo)) as u16))
    })
}

/// Give back every resident page of the `slabs` slabs starting at `head`
/// (an empty span, a huge block or a run about to become free). Returns the
/// bytes that were resident and went back; pages kept (reclamation off, or
/// madvise failed) keep their resident bits. One madvise for the whole
/// range: the kernel skips what is not resident.
pub fn purge_all(head: &SlabMeta, slabs: usize, epoch: usize) -> usize {
    let pages = resident_pages(head, slabs);
    if pages == 0 || !returning() {
        return 0;
    }
    let base = region::slab_base(region::index_of(head));
    if !give_back(base, slabs * SLAB_SIZE, pages * PAGE, epoch) {
        return 0;
    }
    for k in 0..slabs {
        if let Some(s) = region::nth(head, k) {
            s.resident.store(0, Relaxed);
        }
    }
    pages * PAGE
}

/// Mark every page of `[0, bytes)` of the block at `head` resident (a huge
/// block handed out: the program may touch all of it). Returns the pages
/// newly marked.
pub fn commit_block(head: &SlabMeta, bytes: usize) -> usize {
    let mut fresh = 0;
    for (k, want) in slab_masks(0, bytes.div_ceil(PAGE)) {
        if let Some(s) = region::nth(head, k) {
            let r = s.resident.load(Relaxed);
            fresh += (want & !r).count_ones() as usize;
            s.resident.store(r | want, Relaxed);
        }
    }
    fresh
}

/// Account resident pages of slabs entering (`sign` 1) or leaving (-1) the
/// free runs, which hold pages only when reclamation kept them.
pub fn unused_resident(head: &SlabMeta, slabs: usize, sign: i64) {
    let pages = resident_pages(head, slabs);
    if pages > 0 {
        add(
            &COUNTERS.unused_resident,
            sign * counters::page_bytes(pages),
        );
    }
}
