//! Shared code for the lvs example programs.

pub mod fullnat;
pub mod pollmode;

/// The examples of the workspace README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
