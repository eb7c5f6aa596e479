//! The registry: every scheduler by name, with lent and boxed tables.

use super::*;
use crate::test_util::{server, tcp_req};
use lvs_core::Dest;

/// Tables to lend, one of each kind.
struct Tables {
    mh: MhTable,
    lblc: LblcTable,
    lblcr: LblcrTable,
}

impl Tables {
    fn new() -> std::boxed::Box<Self> {
        std::boxed::Box::new(Tables {
            mh: MhTable::new(),
            lblc: LblcTable::new(),
            lblcr: LblcrTable::new(),
        })
    }

    /// The one `name` needs.
    fn lend(&mut self, name: &str) -> SchedStorage<'_> {
        match name {
            "mh" => SchedStorage::Mh(&mut self.mh),
            "lblc" => SchedStorage::Lblc(&mut self.lblc),
            "lblcr" => SchedStorage::Lblcr(&mut self.lblcr),
            _ => SchedStorage::None,
        }
    }
}

#[test]
fn every_kernel_name_builds_and_reports_its_name() {
    let mut t = Tables::new();
    for name in NAMES {
        let s =
            AnyScheduler::from_name_in(name, &SchedOptions::default(), t.lend(name)).unwrap();
        assert_eq!(s.name(), name);
        assert_eq!(
            crate::storage::storage_bytes(name) > 0,
            matches!(name, "mh" | "lblc" | "lblcr")
        );
    }
    assert_eq!(
        AnyScheduler::from_name("WLC", &SchedOptions::default()).unwrap_err(),
        SchedError::UnknownName
    );
    assert_eq!(
        AnyScheduler::from_name("", &SchedOptions::default()).unwrap_err(),
        SchedError::UnknownName
    );
}

#[test]
fn storage_must_fit_the_scheduler() {
    let mut t = Tables::new();
    let o = SchedOptions::default();
    let e = AnyScheduler::from_name_in("mh", &o, t.lend("lblc")).unwrap_err();
    assert_eq!(e, SchedError::Storage { name: "mh" });
    let e = AnyScheduler::from_name_in("rr", &o, t.lend("mh")).unwrap_err();
    assert_eq!(e, SchedError::Storage { name: "rr" });
    // without a lent table: boxed with `alloc`, refused without
    for name in ["mh", "lblc", "lblcr"] {
        let r = AnyScheduler::from_name(name, &o);
        if cfg!(feature = "alloc") {
            assert_eq!(r.unwrap().name(), name);
        } else {
            assert_eq!(r.unwrap_err(), SchedError::Storage { name });
        }
    }
}

#[test]
fn options_reach_the_schedulers() {
    let mut t = Tables::new();
    let mut opts = SchedOptions::default();
    opts.flags.set_by_name("sh-port").unwrap();
    opts.flags.set_by_name("mh-fallback").unwrap();
    match AnyScheduler::from_name("sh", &opts).unwrap() {
        AnyScheduler::Sh(s) => assert!(s.port() && !s.fallback()),
        other => panic!("{other:?}"),
    }
    match AnyScheduler::from_name_in("mh", &opts, t.lend("mh")).unwrap() {
        AnyScheduler::Mh(m) => {
            assert!(m.fallback() && !m.port());
            assert_eq!(m.table_size(), 4093);
        }
        other => panic!("{other:?}"),
    }
    opts.mh_table_size = 251;
    match AnyScheduler::from_name_in("mh", &opts, t.lend("mh")).unwrap() {
        AnyScheduler::Mh(m) => assert_eq!(m.table_size(), 251),
        other => panic!("{other:?}"),
    }
    opts.mh_table_size = 4092;
    assert_eq!(
        AnyScheduler::from_name_in("mh", &opts, t.lend("mh")).unwrap_err(),
        SchedError::Mh(MhError::UnsupportedSize { size: 4092 })
    );
    assert_eq!(
        opts.flags.set_by_name("sh-ports"),
        Err(SchedError::UnknownFlag)
    );
}

#[test]
fn twos_seed_is_used() {
    let pool: [Dest; 8] = core::array::from_fn(|i| server(i as u8, 1, 0, 0));
    let order: [DestId; 8] = core::array::from_fn(|i| DestId(i as u16));
    let set = DestSet::new(&pool, &order);
    let req = tcp_req();
    let run = |seed| {
        let opts = SchedOptions {
            twos_seed: seed,
            ..SchedOptions::default()
        };
        let mut s = AnyScheduler::from_name("twos", &opts).unwrap();
        s.init_service(&set);
        let mut v = [DestId(0); 16];
        for x in &mut v {
            *x = s.schedule(&set, &req).unwrap();
        }
        v
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn dispatch_reaches_the_state() {
    // wrr through the enum gives the kernel's 4,3,2 cycle, so every callback is forwarded.
    let pool = [server(1, 4, 0, 0), server(2, 3, 0, 0), server(3, 2, 0, 0)];
    let order = [DestId(0), DestId(1), DestId(2)];
    let set = DestSet::new(&pool, &order);
    let req = tcp_req();
    let mut s: AnyScheduler = Wrr::new().into();
    s.init_service(&set);
    let got: [u16; 9] = core::array::from_fn(|_| s.schedule(&set, &req).unwrap().0);
    assert_eq!(got, [0, 0, 1, 0, 1, 2, 0, 1, 2]);
}

#[test]
fn size_is_documented() {
    use core::mem::size_of;
    // The docs promise: the enum about half a KiB (dh's and sh's buckets), the tables
    // 20 KiB (mh), 42 KiB (lblc), 66 KiB (lblcr), outside it.
    let kib = |n: usize| n.div_ceil(1024);
    assert!(
        size_of::<AnyScheduler<'_>>() <= 600,
        "{}",
        size_of::<AnyScheduler<'_>>()
    );
    assert!((18..=24).contains(&kib(size_of::<MhTable>())));
    assert!((38..=48).contains(&kib(size_of::<LblcTable>())));
    assert!((60..=72).contains(&kib(size_of::<LblcrTable>())));
    assert!(size_of::<StoredMh<'_>>() <= 64 && size_of::<StoredLblcr<'_>>() <= 32);
    assert!(size_of::<Dh>() < 1024 && size_of::<Sh>() < 1024 && size_of::<Wrr>() < 1024);
}

#[test]
fn flag_bits_round_trip() {
    let f = SchedFlags::from_svc_bits(SchedFlags::SCHED1 | SchedFlags::SCHED3);
    assert!(f.sh_fallback && f.mh_fallback && !f.sh_port && !f.mh_port);
    assert_eq!(f.svc_bits(), SchedFlags::SCHED1);
    assert_eq!(SchedFlags::default().svc_bits(), 0);
}
