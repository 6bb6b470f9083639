//! End-to-end unit tests: the allocator driven in-process (the unit-test
//! binary does not export malloc, so these calls reach zslab only through
//! `crate::alloc`).
use crate::alloc;
use crate::counters::{self, COUNTERS};
use crate::heap::drain_current;
use crate::sizeclass::{class_of, class_size};
use crate::{epoch, region, tls};
use core::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

#[cfg(feature = "model")]
mod models;

/// Tests that move epochs or count global events run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn setup() -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(crate::init::ensure());
    crate::diag::set_warn_only(true);
    g
}

fn malloc(n: usize) -> usize {
    alloc::malloc(n) as usize
}

fn free(p: usize) {
    // SAFETY: every pointer freed here came from `malloc` above (or is
    // deliberately bad, in which case zslab must refuse it).
    unsafe { alloc::free(p as *mut libc::c_void) }
}

#[test]
fn small_blocks_come_from_slabs_of_their_class() {
    let _g = setup();
    for size in [0, 1, 16, 17, 100, 1000, 4096, 8192] {
        let p = malloc(size);
        assert_ne!(p, 0);
        assert_eq!(p % 16, 0);
        let s = region::slab_of(p).expect("small block outside the region");
        assert_eq!(s.object_size(), class_size(class_of(size)));
        assert_eq!(
            s.owner.load(Relaxed),
            tls::get(),
            "owned by this thread's heap"
        );
        // SAFETY: p is a live block of at least `size` bytes.
        unsafe { core::ptr::write_bytes(p as *mut u8, 0xab, size) };
        free(p);
    }
    for size in [8193, 100_000, 1 << 20, (1 << 20) + 1, 50 << 20] {
        let p = malloc(size);
        assert!(
            region::slab_of(p).is_some(),
            "{size}: every size is zslab's"
        );
        // SAFETY: p is a live block of at least `size` bytes.
        unsafe { core::ptr::write_bytes(p as *mut u8, 0xcd, size) };
        // SAFETY: p is live.
        assert!(unsafe { alloc::usable_size(p as *mut libc::c_void) } >= size);
        free(p);
    }
}

#[test]
fn bad_frees_are_refused_and_counted() {
    let _g = setup();
    let doubles = COUNTERS.double_frees.load(Relaxed);
    let invalid = COUNTERS.invalid_frees.load(Relaxed);
    let p = malloc(48);
    let q = malloc(48);
    free(p + 8);
    free(p);
    free(p);
    assert_eq!(COUNTERS.invalid_frees.load(Relaxed), invalid + 1);
    assert_eq!(COUNTERS.double_frees.load(Relaxed), doubles + 1);
    // The refused calls changed nothing: p is reused once, q is intact.
    let r = malloc(48);
    let t = malloc(48);
    assert_ne!(r, t);
    assert!(r != q && t != q);
    free(q);
    free(r);
    free(t);
}

#[test]
fn frees_from_another_thread_come_back_to_the_owner() {
    let _g = setup();
    let ps: Vec<usize> = (0..5000).map(|_| malloc(64)).collect();
    let set: std::collections::HashSet<usize> = ps.iter().copied().collect();
    assert_eq!(set.len(), ps.len());
    let moved = ps.clone();
    std::thread::spawn(move || moved.into_iter().for_each(free))
        .join()
        .unwrap();
    // A double free from here is still caught (the bits are pending or
    // folded in by now).
    let doubles = COUNTERS.double_frees.load(Relaxed);
    free(ps[10]);
    drain_current();
    assert_eq!(COUNTERS.double_frees.load(Relaxed), doubles + 1);
    // The owner reuses the remotely freed objects.
    let again: Vec<usize> = (0..5000).map(|_| malloc(64)).collect();
    let reused = again.iter().filter(|p| set.contains(p)).count();
    assert!(reused > 4000, "only {reused} of 5000 reused");
    again.into_iter().for_each(free);
}

#[test]
fn an_exited_threads_slabs_are_adopted_or_reclaimed() {
    let _g = setup();
    let class = class_of(200);
    let adopted = counters::class(class).adopted.load(Relaxed);
    let orphaned = COUNTERS.orphaned_spans.load(Relaxed);
    // A thread leaves a few long-lived objects behind, then exits.
    let kept: Vec<usize> = std::thread::spawn(|| {
        let all: Vec<usize> = (0..100).map(|_| malloc(200)).collect();
        let keep: Vec<usize> = all.iter().copied().step_by(10).collect();
        let drop: Vec<usize> = all.iter().copied().filter(|p| !keep.contains(p)).collect();
        drop.into_iter().for_each(free);
        for &p in &keep {
            // SAFETY: p is a live 200-byte block.
            unsafe { core::ptr::write_bytes(p as *mut u8, 0x5a, 200) };
        }
        keep
    })
    .join()
    .unwrap();
    assert!(
        COUNTERS.orphaned_spans.load(Relaxed) > orphaned,
        "the exiting thread orphaned its slab"
    );
    // Another new thread allocating that class adopts the orphan.
    std::thread::spawn(move || {
        let p = malloc(200);
        free(p);
    })
    .join()
    .unwrap();
    assert!(counters::class(class).adopted.load(Relaxed) > adopted);
    for &p in &kept {
        // SAFETY: p is still a live 200-byte block.
        assert_eq!(unsafe { *(p as *const u8).add(199) }, 0x5a);
        free(p);
    }
}

#[test]
fn an_epoch_advance_moves_new_objects_to_new_slabs() {
    let _g = setup();
    let old: Vec<usize> = (0..1000).map(|_| malloc(32)).collect();
    let old_era = region::slab_of(old[0]).unwrap().era.load(Relaxed);
    let e = epoch::advance();
    let new: Vec<usize> = (0..1000).map(|_| malloc(32)).collect();
    for &p in &new {
        let s = region::slab_of(p).unwrap();
        assert_eq!(s.epoch.load(Relaxed) as usize, e);
        assert!(s.era.load(Relaxed) > old_era);
        assert!(
            !old.iter()
                .any(|&q| std::ptr::eq(region::slab_of(q).unwrap(), s))
        );
    }
    let reclaimed = counters::epoch(epoch::index(old_era))
        .reclaimed_spans
        .load(Relaxed);
    old.into_iter().for_each(free);
    assert!(
        counters::epoch(epoch::index(old_era))
            .reclaimed_spans
            .load(Relaxed)
            > reclaimed,
        "the old epoch's slab went back once empty"
    );
    new.into_iter().for_each(free);
}

/// Start a huge-block test from an empty cache, once no phase end is
/// sending freed blocks straight back to the OS.
fn empty_huge_cache() {
    while crate::pool::drained_within(crate::os::now_coarse_ms(), 1000) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    crate::huge::purge_cache();
}

#[test]
fn a_cached_huge_block_too_short_is_lengthened_in_place() {
    let _g = setup();
    empty_huge_cache();
    // x and y split one run; y goes back to the region, x to the cache:
    // the slabs right after the cached x are unused.
    let c = malloc(12 << 20);
    free(c);
    let x = malloc(4 << 20);
    let y = malloc(8 << 20);
    assert_eq!((x, y), (c, c + (4 << 20)));
    free(y);
    crate::huge::purge_cache();
    free(x);
    assert_eq!(crate::huge::cached_bytes(), 4 << 20);
    let hits = COUNTERS.huge_cache_hits.load(Relaxed);
    // No cached block fits 10 MiB: x is lengthened instead of a fresh run
    // being taken beside it.
    let z = malloc(10 << 20);
    assert_eq!(z, x, "the cached block was lengthened in place");
    assert_eq!(crate::huge::cached_bytes(), 0);
    assert_eq!(COUNTERS.huge_cache_hits.load(Relaxed), hits + 1);
    // SAFETY: z is a live block.
    let usable = unsafe { alloc::usable_size(z as *mut libc::c_void) };
    assert_eq!(usable, 10 << 20);
    // SAFETY: z is a live block of 10 MiB.
    unsafe { core::ptr::write_bytes(z as *mut u8, 0x5a, 10 << 20) };
    // Every slab of the lengthened block names its head: an interior slab
    // boundary is refused, the block itself frees whole.
    let before = COUNTERS.invalid_frees.load(Relaxed);
    free(z + (8 << 20));
    assert_eq!(COUNTERS.invalid_frees.load(Relaxed), before + 1);
    free(z);
    assert_eq!(crate::huge::cached_bytes(), 10 << 20);
    crate::huge::purge_cache();
}

fn realloc(p: usize, n: usize) -> usize {
    // SAFETY: p is a live block from `malloc` above.
    unsafe { alloc::realloc(p as *mut libc::c_void, n) as usize }
}

#[test]
fn a_huge_block_on_a_slab_with_a_stale_band_is_not_taken_for_moved() {
    let _g = setup();
    empty_huge_cache();
    let moved = crate::huge::moved_ranges();
    let c = malloc(4 << 20);
    free(c);
    crate::huge::purge_cache();
    // What a small span's occupancy band leaves behind in its head slab.
    region::slab_of(c).unwrap().band.store(2, Relaxed);
    let x = malloc(4 << 20);
    assert_eq!(x, c, "the run came back from the region");
    assert_eq!(region::slab_of(x).unwrap().band.load(Relaxed), 0);
    free(x);
    crate::huge::purge_cache();
    assert_eq!(crate::huge::moved_ranges(), moved);
}

#[test]
fn a_block_moved_twice_counts_one_moved_range() {
    let _g = setup();
    empty_huge_cache();
    let moved = crate::huge::moved_ranges();
    let mut p = malloc(5 << 20);
    let mut size = 5 << 20;
    // SAFETY: p is a live block of `size` bytes.
    unsafe { core::ptr::write_bytes(p as *mut u8, 0x3c, size) };
    let mut blockers = Vec::new();
    let mut moves = 0;
    for _ in 0..3 {
        // A block right after p's run, so p cannot grow in place.
        let end = (p + size).next_multiple_of(64 << 10);
        loop {
            let b = malloc((1 << 20) + 4096);
            blockers.push(b);
            if b == end || blockers.len() > 400 {
                break;
            }
        }
        let q = realloc(p, size * 2);
        assert_ne!(q, 0);
        // SAFETY: q is a live block of at least `size` bytes.
        let kept = unsafe { core::slice::from_raw_parts(q as *const u8, size) };
        assert!(
            kept.iter().all(|&b| b == 0x3c),
            "the contents moved with the block"
        );
        if q != p {
            moves += 1;
            // The old run went back to the region with no moved-in mark.
            assert_eq!(region::slab_of(p).unwrap().band.load(Relaxed), 0);
        }
        p = q;
        size *= 2;
        // SAFETY: p is a live block of `size` bytes.
        unsafe { core::ptr::write_bytes(p as *mut u8, 0x3c, size) };
    }
    assert_eq!(moves, 3, "every growth was blocked and moved");
    assert_eq!(crate::huge::moved_ranges(), moved + 1);
    free(p);
    for b in blockers {
        free(b);
    }
    crate::huge::purge_cache();
    assert_eq!(crate::huge::moved_ranges(), moved);
}

#[test]
fn a_move_destination_is_mapped_back_only_where_nothing_is_mapped() {
    let len = 1 << 20;
    let base = crate::os::reserve(len).expect("reserve");
    let hole = base + (256 << 10);
    crate::os::release(hole, 64 << 10);
    assert!(crate::os::map_back(hole, 64 << 10), "a hole is mapped back");
    assert!(
        !crate::os::map_back(hole, 64 << 10),
        "a mapped range is never replaced"
    );
    // SAFETY: the range is mapped again, readable and writable.
    unsafe { core::ptr::write_bytes(hole as *mut u8, 1, 64 << 10) };
    crate::os::release(base, len);
}

#[test]
fn freed_huge_blocks_merge_back_into_their_run() {
    let _g = setup();
    empty_huge_cache();
    let a = malloc(24 << 20);
    free(a);
    // Best fit splits the cached run from its start.
    let b: Vec<usize> = (0..3).map(|_| malloc(6 << 20)).collect();
    assert_eq!(b, vec![a, a + (6 << 20), a + (12 << 20)]);
    assert_eq!(crate::huge::cached_bytes(), 6 << 20);
    // Freed in an order that merges right, then both ways.
    free(b[1]);
    free(b[0]);
    free(b[2]);
    assert_eq!(crate::huge::cached_bytes(), 24 << 20);
    let again = malloc(24 << 20);
    assert_eq!(again, a, "the whole run is one cached block again");
    assert_eq!(crate::huge::cached_bytes(), 0);
    // Every part of the merged run is named by its head again: an interior
    // pointer is refused, the block itself frees.
    let before = crate::counters::COUNTERS
        .invalid_frees
        .load(core::sync::atomic::Ordering::Relaxed);
    free(a + (12 << 20));
    assert_eq!(
        crate::counters::COUNTERS
            .invalid_frees
            .load(core::sync::atomic::Ordering::Relaxed),
        before + 1
    );
    free(a);
}

#[test]
fn metadata_of_slabs_in_free_runs_goes_back_to_the_os() {
    let _g = setup();
    empty_huge_cache();
    let a = malloc(16 << 20);
    // SAFETY: a is a live block of 16 MiB.
    unsafe { core::ptr::write_bytes(a as *mut u8, 0x77, 16 << 20) };
    let before = region::meta_returned();
    free(a);
    crate::huge::purge_cache();
    let idx = region::index_of(region::slab_of(a).unwrap());
    // The metadata of 256 slabs, less the pages of the ends kept as
    // boundary tags and of the slab that still names the block.
    let got = region::meta_returned() - before;
    let want = 256 * core::mem::size_of::<crate::slab::SlabMeta>() - 6 * 4096;
    assert!(got >= want as u64, "only {got} bytes of metadata returned");
    // A slab in the middle reads as an unused slab; the pages of data
    // went back first, so nothing resident was forgotten.
    let mid = region::meta(idx + 128).unwrap();
    assert_eq!(mid.state.get(), crate::slab::State::Free);
    assert_eq!(mid.head.load(Relaxed), 0);
    assert_eq!(mid.base.load(Relaxed), 0);
    assert_eq!(mid.resident.load(Relaxed), 0);
    // A stale pointer into it is still refused.
    let invalid = COUNTERS.invalid_frees.load(Relaxed);
    let doubles = COUNTERS.double_frees.load(Relaxed);
    free(a + (8 << 20));
    assert_eq!(COUNTERS.invalid_frees.load(Relaxed), invalid + 1);
    // The block's own address still names it.
    free(a);
    assert_eq!(COUNTERS.double_frees.load(Relaxed), doubles + 1);
    // The slabs serve again: spans and huge blocks set up on zeroed
    // metadata.
    let b = malloc(16 << 20);
    // SAFETY: b is a live block of 16 MiB.
    unsafe { core::ptr::write_bytes(b as *mut u8, 0x11, 16 << 20) };
    let small: Vec<usize> = (0..20_000).map(|_| malloc(700)).collect();
    for &p in &small {
        // SAFETY: p is a live block of 700 bytes.
        unsafe { core::ptr::write_bytes(p as *mut u8, 0x22, 700) };
    }
    for p in small {
        free(p);
    }
    free(b);
    crate::huge::purge_cache();
}

#[test]
fn automatic_epochs_reuse_mixed_spans_after_one_advance_and_pure_ones_after_two() {
    let _g = setup();
    // Automatic epochs on, but never advancing by themselves: the test
    // advances by hand.
    epoch::set_auto(0, u64::MAX / 2);
    let t = std::thread::spawn(|| {
        let span = |p: usize| region::slab_of(p).unwrap() as *const _ as usize;
        // A fills one span; all but two of its objects die.
        let a: Vec<usize> = (0..16).map(|_| malloc(4096)).collect();
        let sa = span(a[0]);
        assert!(a.iter().all(|&p| span(p) == sa));
        a[2..].iter().for_each(|&p| free(p));
        // One advance: A, a span of the epoch that just closed, takes no
        // new object.
        epoch::advance();
        let b = malloc(4096);
        assert_ne!(span(b), sa, "the closing epoch received a new object");
        free(b);
        // Two advances: A is long-closed and reused, and now mixes epochs.
        epoch::advance();
        let c: Vec<usize> = (0..14).map(|_| malloc(4096)).collect();
        assert!(c.iter().all(|&p| span(p) == sa), "A was not reused");
        assert!(region::slab_of(a[0]).unwrap().mixed.load(Relaxed));
        c[..5].iter().for_each(|&p| free(p));
        // A mixed span holds objects that outlived two advances already:
        // holding it back one more interval would separate nothing.
        epoch::advance();
        let d = malloc(4096);
        assert_eq!(span(d), sa, "a mixed span was held back");
        free(d);
        c[5..].iter().chain(&a[..2]).for_each(|&p| free(p));
    });
    let r = t.join();
    epoch::set_auto(0, 0);
    r.unwrap();
}

#[test]
fn objects_of_the_shared_pair_share_pages_and_their_spans_empty() {
    let _g = setup();
    // Sharing from the start (ZSLAB_SHARE_AFTER=0) for the new heap below.
    let after = crate::sizeclass::share_after();
    crate::sizeclass::set_share_after(0);
    let t = std::thread::spawn(|| {
        // A phase of 32- and 64-byte objects, allocated in turn: both sizes
        // come from the same span, 64-byte ones 64-byte aligned and usable
        // as 64 bytes.
        let v: Vec<(usize, usize)> = (0..6000)
            .map(|i| {
                let n = if i % 3 == 0 { 24 } else { 64 };
                let p = malloc(n);
                // SAFETY: p is a live block of at least n bytes.
                unsafe { core::ptr::write_bytes(p as *mut u8, i as u8, n) };
                (p, n)
            })
            .collect();
        let mut both = 0;
        for w in v.windows(3) {
            let s0 = region::slab_of(w[0].0).unwrap();
            if w.iter()
                .all(|&(p, _)| std::ptr::eq(region::slab_of(p).unwrap(), s0))
            {
                both += 1;
            }
        }
        assert!(both > 5000, "the two sizes do not share spans ({both})");
        for (i, &(p, n)) in v.iter().enumerate() {
            // SAFETY: p is a live block from `malloc`.
            let usable = unsafe { alloc::usable_size(p as *mut libc::c_void) };
            assert_eq!(usable, n.max(32).next_power_of_two());
            if n == 64 {
                assert_eq!(p % 64, 0);
            }
            // SAFETY: p is a live block of n bytes, written above.
            let b = unsafe { core::slice::from_raw_parts(p as *const u8, n) };
            assert!(b.iter().all(|&x| x == i as u8), "block {i} overwritten");
        }
        let spans: std::collections::HashSet<usize> = v
            .iter()
            .map(|&(p, _)| region::slab_of(p).unwrap() as *const _ as usize)
            .collect();
        // 2000 x 32 + 4000 x 64 bytes: five 64 KiB spans' worth.
        assert!(spans.len() <= 6, "{} spans", spans.len());
        v.iter().for_each(|&(p, _)| free(p));
        // Every span still ours is empty (the others were released), but
        // for the current one, whose bins hold free objects taken out of
        // its bitmap.
        for &a in &spans {
            // SAFETY: the addresses are of region metadata, never unmapped.
            let s = unsafe { &*(a as *const crate::slab::SlabMeta) };
            assert!(
                s.state.get() != crate::slab::State::Active
                    || s.owner.load(Relaxed) != tls::get()
                    || s.used.load(Relaxed) == 0
                    || s.list.get() == crate::slab::List::Current,
                "a span kept {} granules",
                s.used.load(Relaxed)
            );
        }
    });
    let r = t.join();
    crate::sizeclass::set_share_after(after);
    r.unwrap();
}

#[test]
fn a_drained_span_gives_back_the_pages_freed_after_its_last_mark() {
    let _g = setup();
    let t = std::thread::spawn(|| {
        // 120 spans of 128-byte objects (512 per span, 32 per page); each
        // keeps its first 50 objects (pages 0 and 1) and frees the rest in
        // address order, as a dropped phase does. The last mark of a span
        // falls at 64 objects left, so the frees of its last 14 objects,
        // which empty page 15, come after it.
        let drains = COUNTERS.drains.load(Relaxed);
        let spans: Vec<Vec<usize>> = (0..120)
            .map(|_| (0..512).map(|_| malloc(128)).collect())
            .collect();
        for s in &spans {
            let h = region::slab_of(s[0]).unwrap();
            assert!(
                s.iter()
                    .all(|&p| std::ptr::eq(region::slab_of(p).unwrap(), h))
            );
        }
        for s in &spans {
            s[50..].iter().for_each(|&p| free(p));
        }
        assert!(
            COUNTERS.drains.load(Relaxed) > drains,
            "freeing 120 spans down to a tenth did not drain"
        );
        // Every span the drain moved on from sits on its survivors' two
        // pages only (the first ones were purged when the drain began,
        // the last one waits for its queued purge).
        for s in &spans[60..119] {
            let h = region::slab_of(s[0]).unwrap();
            assert_eq!(crate::pages::resident_pages(h, 1), 2);
        }
        for s in &spans {
            s[..50].iter().for_each(|&p| free(p));
        }
    });
    t.join().unwrap();
}

/// A termination signal's exit report is written from the handler where
/// no background thread can write it, also in a fork child signalled
/// before its fork handlers ran, which still holds every lock the
/// parent's fork preparation took. The snapshot must take none of them:
/// with them all held it still completes.
#[test]
fn a_snapshot_completes_while_every_fork_lock_is_held() {
    let _g = setup();
    let p = malloc(3 << 20); // a huge block: the free runs have been used
    crate::global::for_each_lock(&mut |l| l.lock());
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let s = crate::stats::snapshot();
        let _ = tx.send(s.global.region_reserved_bytes);
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(5));
    crate::global::for_each_lock(&mut |l| l.unlock());
    t.join().unwrap();
    free(p);
    assert!(
        got.is_ok_and(|r| r > 0),
        "the snapshot waited for a lock the fork preparation holds"
    );
}

/// With `ZSLAB_SHARE_AFTER`, a heap's 64-byte objects have spans of their
/// own until the pair's classes have taken that much; then they come from
/// the 32-byte class's spans. Objects from before the switch stay where
/// they are, intact, and are freed as usual (also into their old span once
/// it is no longer current, and from another thread).
#[test]
fn the_pair_starts_sharing_after_its_spans_add_up() {
    let _g = setup();
    let class_at = |p: usize| region::slab_of(p).unwrap().class.load(Relaxed) as usize;
    let (c32, c64) = (class_of(32), class_of(64));
    // Three spans' worth: the heap below is new, so it starts unshared.
    let after = crate::sizeclass::share_after();
    crate::sizeclass::set_share_after(3);
    let t = std::thread::spawn(move || {
        let mut blocks = Vec::new();
        let mut shared_at = None;
        for i in 0..20_000usize {
            let n = if i % 3 == 0 { 24 } else { 64 };
            let p = malloc(n);
            // SAFETY: a fresh block of at least n bytes.
            unsafe { core::ptr::write_bytes(p as *mut u8, i as u8, n) };
            if n == 64 && class_at(p) == c32 && shared_at.is_none() {
                shared_at = Some(i);
            }
            blocks.push((p, n, i as u8));
        }
        // Before the switch, 64-byte objects sat in spans of their own.
        let first64 = blocks.iter().find(|b| b.1 == 64).unwrap().0;
        let early_own = class_at(first64) == c64;
        // Half freed here (every other block), half by another thread.
        let (mine, theirs): (Vec<_>, Vec<_>) = blocks.into_iter().partition(|b| b.0 % 32 == 0);
        for &(p, n, v) in &mine {
            // SAFETY: live blocks of n bytes written above.
            let ok = unsafe { core::slice::from_raw_parts(p as *const u8, n) }
                .iter()
                .all(|&x| x == v);
            assert!(ok, "block {p:#x} of {n} bytes corrupted");
            free(p);
        }
        std::thread::spawn(move || {
            for (p, n, v) in theirs {
                // SAFETY: as above.
                let ok = unsafe { core::slice::from_raw_parts(p as *const u8, n) }
                    .iter()
                    .all(|&x| x == v);
                assert!(ok, "block {p:#x} of {n} bytes corrupted");
                free(p);
            }
        })
        .join()
        .unwrap();
        (early_own, shared_at)
    });
    let got = t.join();
    crate::sizeclass::set_share_after(after);
    let (early_own, shared_at) = got.unwrap();
    assert!(
        early_own,
        "64-byte objects shared before the pair took 3 spans"
    );
    let i = shared_at.expect("the pair never started sharing");
    // The third span is the second of 64-byte blocks (1 024 each), at
    // about block 1 536; housekeeping notices within 256 allocations of
    // a class.
    assert!((1_500..2_400).contains(&i), "sharing started at block {i}");
    assert!(COUNTERS.pair_shared.load(Relaxed) > 0);
}

/// A heap whose 32- and 64-byte objects come in long stretches of one size
/// (a loop over one size, then the other) never starts sharing, however
/// many spans the two take: sharing would only slow it down. Nor does a
/// trickle of one size among many of the other.
#[test]
fn the_pair_does_not_share_while_one_size_allocates_alone() {
    let _g = setup();
    let class_at = |p: usize| region::slab_of(p).unwrap().class.load(Relaxed) as usize;
    let c64 = class_of(64);
    let after = crate::sizeclass::share_after();
    crate::sizeclass::set_share_after(3);
    let t = std::thread::spawn(move || {
        let mut blocks = Vec::new();
        let mut shared = 0;
        let stretches: [(usize, usize); 4] = [(64, 8_000), (32, 16_000), (64, 8_000), (0, 40_000)];
        for (size, count) in stretches {
            for i in 0..count {
                // The last stretch: one 32-byte block in a hundred.
                let n = match size {
                    0 if i % 100 == 0 => 32,
                    0 => 64,
                    n => n,
                };
                let p = malloc(n);
                if n == 64 && class_at(p) != c64 {
                    shared += 1;
                }
                blocks.push(p);
            }
        }
        for p in blocks {
            free(p);
        }
        shared
    });
    let got = t.join();
    crate::sizeclass::set_share_after(after);
    assert_eq!(got.unwrap(), 0, "64-byte blocks came from shared spans");
}
