//! zslab: a temporal-slab memory allocator that replaces glibc's malloc in
//! unmodified Linux programs (`LD_PRELOAD=libzslab.so`).
//!
//! Small requests (16 B to 8 KiB) are served from 64 KiB slabs of one size
//! class and one epoch each, carved out of a single reserved region, through
//! per-thread heaps; larger requests go to glibc. Objects allocated in the
//! same epoch share slabs, so when a phase of the program ends its slabs
//! empty together and their pages go back to the OS.
//!
//! Layers, lowest first (a module only uses the ones above it in this list):
//! `os`, `sync` → `sizeclass`, `config`, `tls` → `slab`, `region` →
//! `counters`, `epoch`, `pool`, `diag` → `heap`, `background` → `alloc`,
//! `stats`, `global` → `api`, `capi` (the C ABI).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod os;
pub mod sync;

pub mod config;
pub mod sizeclass;
pub mod tls;

pub mod region;
pub mod slab;

pub mod counters;
mod diag;
pub mod epoch;
pub mod pool;

mod background;
pub mod heap;

pub mod alloc;
mod glibc;
pub mod global;
mod log;
pub mod stats;

pub mod api;
pub mod capi;
