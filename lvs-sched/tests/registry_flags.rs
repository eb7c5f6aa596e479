//! Scheduler flags survive into listings: `AnyScheduler::sched_flags` reports what `-b` set.

use lvs_core::sched::SchedFlags as ListFlags;
use lvs_core::Scheduler;
use lvs_sched::mh::MhTable;
use lvs_sched::storage::SchedStorage;
use lvs_sched::{AnyScheduler, SchedOptions};

#[test]
fn sh_and_mh_report_their_flags() {
    let mut o = SchedOptions::default();
    o.flags.sh_port = true;
    let sh = AnyScheduler::from_name("sh", &o).unwrap();
    assert_eq!(sh.sched_flags(), ListFlags::SH_PORT);
    o.flags.mh_fallback = true;
    o.flags.mh_port = true;
    let mut table = MhTable::new();
    let mh = AnyScheduler::from_name_in("mh", &o, SchedStorage::Mh(&mut table)).unwrap();
    assert_eq!(
        mh.sched_flags(),
        ListFlags::MH_FALLBACK | ListFlags::MH_PORT
    );
    let wlc = AnyScheduler::from_name("wlc", &o).unwrap();
    assert_eq!(wlc.sched_flags(), ListFlags::NONE);
}
