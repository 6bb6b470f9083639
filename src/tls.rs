//! The calling thread's heap pointer. On x86-64 Linux it lives in an
//! initial-exec TLS slot read with two instructions (`mov` of the GOT offset,
//! `mov %fs:(off)`), because a stable-Rust `thread_local!` in a cdylib goes
//! through `__tls_get_addr` on every access. Elsewhere a const-initialised,
//! non-`Drop` `thread_local!` is used, which never allocates either.
//!
//! The slot holds 0 (no heap yet), the address of a heap, or the address of
//! the shared "retired" heap once the thread's own heap has been handed back.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use core::arch::{asm, global_asm};

    // One pointer-sized, zero-initialised TLS variable, hidden: visible to
    // every codegen unit of the library, exported by none.
    global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".globl zslab_tls_heap",
        ".hidden zslab_tls_heap",
        ".p2align 3",
        ".type zslab_tls_heap,@object",
        ".size zslab_tls_heap,8",
        "zslab_tls_heap:",
        ".zero 8",
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
        static HEAP: Cell<usize> = const { Cell::new(0) };
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
        assert_eq!(other, (0, 0x99));
        assert_eq!(super::get(), 0x1234);
        super::set(0);
    }
}
