//! zslab: a temporal-slab memory allocator that replaces glibc's malloc in
//! unmodified Linux programs (`LD_PRELOAD=libzslab.so`).
//!
//! Every size is served from one reserved region: small (16 B to 8 KiB) and
//! medium (to 1 MiB) requests from spans of one size class and one epoch
//! each, through per-thread heaps; huge requests as runs of slabs with a
//! cache. Objects allocated in the same epoch share spans, so when a phase
//! of the program ends its spans empty together; pages without a live
//! object go back to the OS when a phase ends or after a short delay.
//!
//! The modules are layered: each uses only the layers below it. The table
//! is in docs/design.md ("Layers"), and `scripts/check-layers.py` (part of
//! `make lint`) checks the `use` lines against it.

#![deny(unsafe_op_in_unsafe_fn)]

mod elf;
pub mod os;
pub mod sync;

pub mod config;
pub mod sizeclass;
pub mod tls;

pub mod slab;

pub mod region;

pub mod counters;
pub mod epoch;
pub mod list;

mod diag;
pub mod pages;

pub mod pool;

pub mod huge;

pub mod heap;

mod background;

pub mod init;

pub mod alloc;
mod glibc;

mod log;
pub mod stats;

mod report;

pub mod capi;
pub mod global;

pub mod api;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
