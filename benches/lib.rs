//! Shared helpers for the lvs benchmarks.
