//! Models of the remote-free notification protocol (heap/remote.rs): the
//! pusher's stack push and owner re-check, the owner's drain, a heap's
//! exit (orphaning its spans), orphan collection under the span's
//! try-lock, adoption, and helping an idle owner.

use super::{World, check};
use crate::heap::model::{drain, help_with, mark_remote, notify, orphan_with};
use crate::pool::{Adopt, adopt_one};
use crate::sizeclass::class_of;
use crate::slab::{SlabMeta, State};
use shuttle::thread;
use std::sync::atomic::Ordering::SeqCst;

fn class() -> usize {
    class_of(256)
}

/// `owners[i]`: the heap owning span i. Each span gets `live` objects
/// handed out to the program (taken out of its bitmap).
fn world(owners: &[Option<usize>], heaps: usize, live: usize) -> &'static World {
    let w = World::new(class(), owners, heaps);
    for i in 0..owners.len() {
        let s = w.span(i);
        let t = w.take_live(s).expect("room");
        // Keep `live` of them, give the rest back.
        let keep = crate::slab::lowest_bits(t.bits, live);
        s.give_back(t.word, t.bits & !keep);
        let mut rest = t.bits & !keep;
        while rest != 0 {
            let o = t.word * 64 + rest.trailing_zeros() as usize;
            w.gone(s, w.addr(s, o));
            rest &= rest - 1;
        }
    }
    w
}

/// free() of object `i` of span `s` by a thread that is not its owner
/// (`me`: that thread's heap, if it has one): `free_other`'s check and
/// pending bit, then its notification.
fn free_remote(w: &'static World, s: &'static SlabMeta, i: usize, me: Option<usize>) {
    let p = w.addr(s, i);
    w.gone(s, p);
    assert_eq!(mark_remote(s, p), Ok(()));
    notify(w.env(), s, me);
}

/// What a heap's thread exit does with its spans (`Heap::abandon`): drain
/// its stack, orphan every span, drain again.
fn exit(w: &'static World, heap: usize, spans: &[usize]) {
    let me = w.heap(heap).owner();
    drain(w.env(), me);
    for &i in spans {
        orphan_with(w.env(), w.span(i));
    }
    drain(w.env(), me);
}

/// Once every thread is done (and live owners have drained their stacks,
/// as their next slow path does), no remote free is left unfolded: no
/// span keeps pending bits or stays marked queued, every stack is empty,
/// and each span's allocation state is exact (a reclaimed one had no
/// object left).
fn assert_all_folded(w: &'static World, live_heaps: &[usize]) {
    for &h in live_heaps {
        drain(w.env(), w.heap(h).owner());
    }
    for h in 0..w.heaps.len() {
        assert_eq!(
            w.heap(h).stack().load(SeqCst),
            0,
            "heap {h}'s stack not empty"
        );
    }
    for i in 0..w.spans.len() {
        let s = w.span(i);
        assert_eq!(w.doubles.load(SeqCst), 0, "a valid free reported as double");
        if s.state.get() == State::Cached {
            assert_eq!(
                s.used.load(SeqCst),
                0,
                "span {i} reclaimed with objects in use"
            );
            continue;
        }
        w.assert_exact(s, (usize::MAX, 0));
    }
}

/// Invariant: a heap's exit (drain, orphan its spans, drain) racing
/// remote frees into its spans strands no notification: every pending
/// free is folded in by the exiting heap, the pusher (taking over the
/// dead heap's stack) or the orphan's collector.
#[test]
fn exit_racing_remote_frees_strands_no_free() {
    check(|| {
        let w = world(&[Some(0), Some(0)], 1, 2);
        let (s0, s1) = (w.span(0), w.span(1));
        let r = thread::spawn(move || {
            free_remote(w, s0, 0, None);
            free_remote(w, s1, 0, None);
        });
        let r2 = thread::spawn(move || free_remote(w, s0, 1, None));
        exit(w, 0, &[0, 1]);
        r.join().unwrap();
        r2.join().unwrap();
        assert_all_folded(w, &[]);
        w.end();
    });
}

/// Invariant: pushes racing the owner's drains never lose a span: after
/// the owner's next drain every remote free is folded in (two freers, one
/// with a heap of its own, two spans, the owner draining meanwhile).
#[test]
fn pushes_racing_drains_lose_no_span() {
    check(|| {
        let w = world(&[Some(0), Some(0)], 2, 3);
        let (s0, s1) = (w.span(0), w.span(1));
        let me1 = Some(w.heap(1).owner());
        let a = thread::spawn(move || {
            free_remote(w, s0, 0, me1);
            free_remote(w, s1, 0, me1);
        });
        let b = thread::spawn(move || {
            free_remote(w, s1, 1, None);
            free_remote(w, s0, 1, None);
        });
        drain(w.env(), w.heap(0).owner());
        drain(w.env(), w.heap(0).owner());
        a.join().unwrap();
        b.join().unwrap();
        assert_all_folded(w, &[0]);
        w.end();
    });
}

/// Invariant: adopting an orphan races a free into it without losing the
/// free: the free is folded in by the orphan's collector (the freeing
/// thread under the try-lock, or the adopter's collection right after
/// adopting) or reaches the new owner's stack.
#[test]
fn adoption_racing_a_free_loses_nothing() {
    check(|| {
        let w = world(&[None], 1, 3);
        let s = w.span(0);
        let r = thread::spawn(move || {
            free_remote(w, s, 0, None);
            free_remote(w, s, 1, None);
        });
        let owner = w.heap(0).owner();
        let env = w.env();
        let got = adopt_one(s, owner, 0, || super::Env::fold_orphan_of(env, s));
        if got == Adopt::Taken {
            // The allocation slow path folds an adopted span's frees in.
            w.note(s.collect());
        }
        r.join().unwrap();
        assert_all_folded(w, &[0]);
        w.end();
    });
}

/// Invariant: helping an idle owner (another thread takes its stack,
/// gives back free pages under each span's lock, pushes the spans back)
/// racing the owner's exit and remote frees strands no free, and gives
/// back no page holding an object out of the bitmap.
#[test]
fn helping_an_idle_owner_racing_its_exit_strands_no_free() {
    check(|| {
        let w = world(&[Some(0), Some(0)], 1, 3);
        let (s0, s1) = (w.span(0), w.span(1));
        let owner = w.heap(0).owner();
        let r = thread::spawn(move || {
            free_remote(w, s0, 0, None);
            free_remote(w, s1, 0, None);
        });
        let helper = thread::spawn(move || {
            help_with(w.env(), owner);
        });
        exit(w, 0, &[0, 1]);
        r.join().unwrap();
        helper.join().unwrap();
        assert_all_folded(w, &[]);
        w.end();
    });
}

/// Invariant: an orphan is adopted by at most one heap, and only by one
/// in the orphan's era: two heaps try at once (one of them has not
/// noticed an epoch advance yet and asks for the era before), racing a
/// free into the orphan, which is folded in whoever wins.
#[test]
fn adoption_is_exclusive_and_era_checked() {
    check(|| {
        let w = world(&[None], 2, 3);
        let s = w.span(0);
        s.era.store(1, SeqCst);
        let r = thread::spawn(move || free_remote(w, s, 0, None));
        let env = w.env();
        let stale = thread::spawn(move || {
            let got = adopt_one(s, w.heap(1).owner(), 0, || {
                super::Env::fold_orphan_of(env, s)
            });
            assert_ne!(got, Adopt::Taken, "adopted by a heap of another era");
            got
        });
        let got = adopt_one(s, w.heap(0).owner(), 1, || {
            super::Env::fold_orphan_of(env, s)
        });
        if got == Adopt::Taken {
            w.note(s.collect());
        }
        let other = stale.join().unwrap();
        assert_eq!(
            other,
            Adopt::Newer,
            "a newer orphan stops the stale heap's search"
        );
        r.join().unwrap();
        if got == Adopt::Taken {
            assert_eq!(s.owner.load(SeqCst), w.heap(0).owner());
            assert_all_folded(w, &[0]);
        } else {
            // Someone else held the lock: it is still an orphan, folded in.
            assert_eq!(s.owner.load(SeqCst), crate::slab::NO_OWNER);
            assert_all_folded(w, &[]);
        }
        w.end();
    });
}
