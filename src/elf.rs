//! Which loaded object defines a function first, by the dynamic loader's
//! own rule (the first object, in load order, whose symbol table defines
//! it), read from the objects' GNU hash tables without allocating.
//!
//! `dlsym(RTLD_DEFAULT, "malloc")` cannot answer this: an executable that
//! takes the address of `malloc` (Debian's python3 does) gets a *canonical
//! PLT entry*, an undefined symbol with a value, and every object binds
//! `malloc` to that stub, which jumps on to the real definition. `dlsym`
//! returns the stub, in the executable, which defines nothing.

use core::ffi::{CStr, c_void};

/// The first object that defines function (or indirect function) `name`:
/// its load address and file name (empty for the executable), or `None`
/// when no object's tables say so.
pub fn first_definer(name: &CStr) -> Option<(usize, &'static [u8])> {
    struct Search<'a> {
        name: &'a [u8],
        hash: u32,
        found: Option<(usize, &'static [u8])>,
    }
    extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> libc::c_int {
        // SAFETY: `data` is the Search passed below, alive for the call.
        let s = unsafe { &mut *data.cast::<Search>() };
        // SAFETY: the loader passes a valid dl_phdr_info for the call.
        let info = unsafe { &*info };
        // SAFETY: the program headers and dynamic section of a loaded
        // object stay mapped while dl_iterate_phdr holds the loader lock.
        if unsafe { defines(info, s.name, s.hash) } {
            let file = if info.dlpi_name.is_null() {
                &b""[..]
            } else {
                // SAFETY: dlpi_name is a NUL-terminated string owned by the
                // loader, alive while the object is loaded.
                unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes()
            };
            s.found = Some((info.dlpi_addr as usize, file));
            return 1;
        }
        0
    }
    let mut s = Search {
        name: name.to_bytes(),
        hash: gnu_hash(name.to_bytes()),
        found: None,
    };
    // SAFETY: dl_iterate_phdr calls `visit` for each loaded object, in load
    // order (the default lookup order), under the loader's lock, without
    // allocating; `s` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut s as *mut Search).cast()) };
    s.found
}

fn sysv_hash(name: &[u8]) -> u32 {
    name.iter().fold(0u32, |h, &c| {
        let h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        (h ^ (g >> 24)) & !g
    })
}

fn gnu_hash(name: &[u8]) -> u32 {
    name.iter()
        .fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32))
}

/// An entry of a dynamic section (`Elf64_Dyn`).
#[repr(C)]
struct Dyn {
    d_tag: i64,
    d_un: u64,
}

const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_HASH: i64 = 4;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const SHN_UNDEF: u16 = 0;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;

/// Whether the object described by `info` defines function `name`.
///
/// # Safety
/// `info` describes a loaded object (from dl_iterate_phdr, during the call).
unsafe fn defines(info: &libc::dl_phdr_info, name: &[u8], hash: u32) -> bool {
    let base = info.dlpi_addr as usize;
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC) else {
        return false;
    };
    let (mut symtab, mut strtab, mut gnu, mut sysv) = (0usize, 0usize, 0usize, 0usize);
    let mut d = (base + dynamic.p_vaddr as usize) as *const Dyn;
    // The loader has relocated these entries in place, except in objects
    // it does not relocate (the vDSO): an address below the load address
    // is still relative.
    let abs = |v: u64| {
        let v = v as usize;
        if v < base { base + v } else { v }
    };
    loop {
        // SAFETY: the dynamic section is an array ended by DT_NULL.
        let e = unsafe { &*d };
        match e.d_tag {
            DT_NULL => break,
            DT_SYMTAB => symtab = abs(e.d_un),
            DT_STRTAB => strtab = abs(e.d_un),
            DT_GNU_HASH => gnu = abs(e.d_un),
            DT_HASH => sysv = abs(e.d_un),
            _ => {}
        }
        // SAFETY: not past DT_NULL, checked above.
        d = unsafe { d.add(1) };
    }
    if symtab == 0 || strtab == 0 {
        return false;
    }
    let syms = symtab as *const libc::Elf64_Sym;
    // Symbol `i` is a definition of function `name`.
    let matches = |i: u32| {
        // SAFETY: i indexes the symbol table (a chain entry of the object's
        // own hash table), whose names are offsets into strtab.
        let sym = unsafe { &*syms.add(i as usize) };
        // SAFETY: st_name is the offset of a NUL-terminated string.
        let sname = unsafe { CStr::from_ptr((strtab + sym.st_name as usize) as *const _) };
        let kind = sym.st_info & 0xf;
        sname.to_bytes() == name
            && sym.st_shndx != SHN_UNDEF
            && (kind == STT_FUNC || kind == STT_GNU_IFUNC)
    };
    if gnu == 0 {
        if sysv == 0 {
            return false;
        }
        // The System V hash table: nbucket, nchain, buckets, chains.
        let t = sysv as *const u32;
        // SAFETY: the two header words of the mapped table.
        let (nbucket, nchain) = unsafe { (*t, *t.add(1)) };
        if nbucket == 0 {
            return false;
        }
        // SAFETY: a bucket index below nbucket.
        let mut i = unsafe { *t.add(2 + (sysv_hash(name) % nbucket) as usize) };
        let mut steps = 0;
        while i != 0 && i < nchain && steps < nchain {
            if matches(i) {
                return true;
            }
            // SAFETY: chain entry i, below nchain.
            i = unsafe { *t.add(2 + nbucket as usize + i as usize) };
            steps += 1;
        }
        return false;
    }
    // GNU hash table: nbuckets, symoffset, bloom words, bloom shift; the
    // bloom filter (64-bit words); the buckets; the hash chain.
    let h = gnu as *const u32;
    // SAFETY: the header is four u32 words, inside the mapped table.
    let (nbuckets, symoffset, bloom_size, bloom_shift) =
        unsafe { (*h, *h.add(1), *h.add(2), *h.add(3)) };
    if nbuckets == 0 || bloom_size == 0 {
        return false;
    }
    // SAFETY: the bloom words follow the header.
    let bloom = unsafe { h.add(4) } as *const u64;
    // SAFETY: the bloom index is reduced modulo its size.
    let word = unsafe { *bloom.add(((hash / 64) % bloom_size) as usize) };
    let mask = (1u64 << (hash % 64)) | (1u64 << ((hash >> bloom_shift) % 64));
    if word & mask != mask {
        return false;
    }
    // SAFETY: the buckets follow the bloom words; the index is reduced.
    let buckets = unsafe { bloom.add(bloom_size as usize) } as *const u32;
    // SAFETY: the chain follows the buckets.
    let chain = unsafe { buckets.add(nbuckets as usize) };
    // SAFETY: a bucket index below nbuckets.
    let mut i = unsafe { *buckets.add((hash % nbuckets) as usize) };
    if i < symoffset {
        return false;
    }
    loop {
        // SAFETY: i >= symoffset is a symbol of the chain (the table says
        // where each chain ends).
        let c = unsafe { *chain.add((i - symoffset) as usize) };
        if c | 1 == hash | 1 && matches(i) {
            return true;
        }
        if c & 1 != 0 {
            return false;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_elf_specifications() {
        // Reference values from the GNU and System V hash functions.
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(sysv_hash(b"printf"), 0x0779_05a6);
    }

    #[test]
    fn libc_defines_malloc_first_in_a_test_binary() {
        // The test binary neither defines nor preloads a malloc: glibc's
        // comes first.
        let (_, file) = first_definer(c"malloc").expect("found");
        let base = file.rsplit(|&c| c == b'/').next().unwrap_or(file);
        assert!(
            base.starts_with(b"libc.so"),
            "{:?}",
            core::str::from_utf8(file)
        );
        assert!(first_definer(c"zslab_no_such_function_anywhere").is_none());
    }
}
