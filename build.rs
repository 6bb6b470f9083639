//! Link arguments for libzslab.so: a versioned soname (cdylib-link-lines) and
//! `-z nodelete`, so a dlclose can never unmap the allocator while blocks it
//! handed out are still live.

fn main() {
    cdylib_link_lines::metabuild();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
