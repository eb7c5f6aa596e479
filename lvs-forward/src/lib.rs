//! # lvs-forward
//!
//! Zero-copy packet views and in-place rewriters.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
