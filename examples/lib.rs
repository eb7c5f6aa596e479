//! Shared code for the lvs example programs.

pub mod fullnat;
