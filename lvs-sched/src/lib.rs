//! # lvs-sched
//!
//! The IPVS schedulers, one file per algorithm like the kernel's `ip_vs_*.c`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
