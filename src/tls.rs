//! The calling thread's heap pointer. On x86-64 Linux it lives in an
//! initial-exec TLS slot read with two instructions (`mov` of the GOT offset,
//! `mov %fs:(off)`), because a stable-Rust `thread_local!` in a cdylib goes
//! through `__tls_get_addr` on every access. Elsewhere a const-initialised,
//! non-`Drop` `thread_local!` is used, which never allocates either.
//!
//! The slot holds [`UNSET`] (no heap yet: the slot's initial value),
//! [`TORN_DOWN`] (the thread's heap was handed back at thread exit), or the
//! address of the thread's heap. Neither special value can equal a slab's
//! `owner` (0, `NO_OWNER` = 2, or a heap address), so the free fast path
//! decides "is this my slab" with one compare.

/// The thread has no heap yet.
pub const UNSET: usize = 3;
/// The thread's heap was handed back at thread exit.
pub const TORN_DOWN: usize = 1;

/// Whether a slot value is a heap address.
#[inline(always)]
pub fn is_heap(v: usize) -> bool {
    v > UNSET
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use core::arch::{asm, global_asm};

    // One pointer-sized TLS variable initialised to UNSET (3), hidden:
    // visible to every codegen unit of the library, exported by none.
    global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".globl zslab_tls_heap",
        ".hidden zslab_tls_heap",
        ".p2align 3",
        ".type zslab_tls_heap,@object",
        ".size zslab_tls_heap,8",
        "zslab_tls_heap:",
        ".quad 3",
        ".popsection",
    );

    #[inline(always)]
    pub fn get() -> usize {
        let v: usize;
        // SAFETY: reads the calling thread's own copy of zslab_tls_heap
        // through its initial-exec GOT offset; no memory is written.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + zslab_tls_heap@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{t}]",
                t = out(reg) _,
                v = lateout(reg) v,
                options(nostack, readonly, preserves_flags),
            );
        }
        v
    }

    #[inline(always)]
    pub fn set(v: usize) {
        // SAFETY: writes the calling thread's own copy of zslab_tls_heap.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + zslab_tls_heap@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {v}",
                t = out(reg) _,
                v = in(reg) v,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use core::cell::Cell;
    thread_local! {
        static HEAP: Cell<usize> = const { Cell::new(super::UNSET) };
    }
    #[inline(always)]
    pub fn get() -> usize {
        HEAP.with(|h| h.get())
    }
    #[inline(always)]
    pub fn set(v: usize) {
        HEAP.with(|h| h.set(v))
    }
}

pub use imp::{get, set};

#[cfg(test)]
mod tests {
    #[test]
    fn slot_is_per_thread() {
        super::set(0x1234);
        let other = std::thread::spawn(|| {
            let before = super::get();
            super::set(0x99);
            (before, super::get())
        })
        .join()
        .unwrap();
        assert_eq!(other, (super::UNSET, 0x99));
        assert_eq!(super::get(), 0x1234);
        super::set(super::UNSET);
    }
}
