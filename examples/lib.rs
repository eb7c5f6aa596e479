//! Shared code for the lvs example programs.
