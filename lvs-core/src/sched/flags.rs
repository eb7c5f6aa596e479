//! Scheduler flags: the kernel's three per-service scheduler bits.

use core::fmt;

bitflags::bitflags! {
    /// Scheduler flags (`-b`, `--sched-flags`): the kernel's three per-service scheduler bits
    /// `IP_VS_SVC_F_SCHED1..3`, whose meaning depends on the scheduler.
    ///
    /// For `sh` and `mh`, bit 1 is `*-fallback` (skip an unavailable server to the next one) and
    /// bit 2 is `*-port` (hash the source port too); other schedulers only know them as
    /// `flag-1..3`.
    ///
    /// ```
    /// use lvs_core::sched::SchedFlags;
    /// let f = SchedFlags::SH_FALLBACK | SchedFlags::SH_PORT;
    /// assert_eq!(f.display_for("sh").to_string(), "sh-fallback,sh-port");
    /// assert_eq!(f.display_for("wlc").to_string(), "flag-1,flag-2");
    /// assert_eq!(f.kernel_bits(), 0x18);
    /// ```
    ///
    /// A [`bitflags`] type: `|`, `&`, `contains`, `iter_names` and the rest come from there.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
    pub struct SchedFlags: u8 {
        /// `flag-1` (`IP_VS_SVC_F_SCHED1`).
        const FLAG_1 = 1;
        /// `flag-2` (`IP_VS_SVC_F_SCHED2`).
        const FLAG_2 = 2;
        /// `flag-3` (`IP_VS_SVC_F_SCHED3`).
        const FLAG_3 = 4;
    }
}

impl SchedFlags {
    /// No flags.
    pub const NONE: SchedFlags = SchedFlags::empty();
    /// `sh-fallback`: the sh scheduler skips an unavailable server (`flag-1`).
    pub const SH_FALLBACK: SchedFlags = SchedFlags::FLAG_1;
    /// `sh-port`: the sh scheduler hashes the source port as well (`flag-2`).
    pub const SH_PORT: SchedFlags = SchedFlags::FLAG_2;
    /// `mh-fallback`: the mh (Maglev) scheduler skips an unavailable server (`flag-1`).
    pub const MH_FALLBACK: SchedFlags = SchedFlags::FLAG_1;
    /// `mh-port`: the mh scheduler hashes the source port as well (`flag-2`).
    pub const MH_PORT: SchedFlags = SchedFlags::FLAG_2;

    /// The bits where the kernel keeps them in a service's flags (`IP_VS_SVC_F_SCHED1` = 0x8).
    pub const fn kernel_bits(self) -> u32 {
        (self.bits() as u32) << 3
    }

    /// The scheduler flags out of a kernel service flags word.
    pub const fn from_kernel_bits(flags: u32) -> Self {
        SchedFlags::from_bits_truncate((flags >> 3) as u8)
    }

    /// The flags as ipvsadm names them for `scheduler`, comma separated (`sh-fallback,sh-port`).
    ///
    /// ipvsadm's `print_sched_flags` names bits 1 and 2 `sh-*`/`mh-*` for those schedulers and
    /// `flag-N` otherwise. It prints nothing for bit 3 under sh/mh; this prints `flag-3` there,
    /// so that the output can be read back.
    pub const fn display_for(self, scheduler: &str) -> SchedFlagsDisplay<'_> {
        SchedFlagsDisplay {
            flags: self,
            scheduler,
        }
    }
}

/// [`SchedFlags`] named for a scheduler; see [`SchedFlags::display_for`].
#[derive(Debug, Clone, Copy)]
pub struct SchedFlagsDisplay<'a> {
    flags: SchedFlags,
    scheduler: &'a str,
}

impl fmt::Display for SchedFlagsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: [&str; 3] = match self.scheduler {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        let mut first = true;
        for (i, name) in names.iter().enumerate() {
            if self.flags.bits() & (1 << i) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::string::ToString;

    #[test]
    fn sched_flags_names() {
        let all = SchedFlags::FLAG_1 | SchedFlags::FLAG_2 | SchedFlags::FLAG_3;
        assert_eq!(
            all.display_for("mh").to_string(),
            "mh-fallback,mh-port,flag-3"
        );
        assert_eq!(SchedFlags::FLAG_2.display_for("sh").to_string(), "sh-port");
        assert_eq!(SchedFlags::NONE.display_for("sh").to_string(), "");
        assert_eq!(SchedFlags::from_kernel_bits(0x20 | 0x1), SchedFlags::FLAG_3);
        assert_eq!(SchedFlags::from_bits_truncate(0xff).bits(), 7);
        assert!(all.contains(SchedFlags::MH_PORT));
        assert!(!SchedFlags::FLAG_1.contains(SchedFlags::FLAG_2));
    }
}
