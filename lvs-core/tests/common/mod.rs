//! Test support shared by the director tests: a small scheduler and caller-provided memory.
#![allow(dead_code)]

use lvs_core::conn::ConnSlot;
use lvs_core::director::{DirectorMemory, Service};
use lvs_core::stats::Stats;
use lvs_core::{Dest, DestConfig, DestId, DestSet, Endpoint, FwdMethod, SchedRequest, Scheduler};

/// Round robin with the kernel's cursor rules, enough to drive the director in these tests.
#[derive(Default)]
pub struct TestRr {
    last: Option<DestId>,
}

impl Scheduler for TestRr {
    fn name(&self) -> &'static str {
        "test-rr"
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        if self.last == Some(id) {
            self.last = if position == 0 {
                None
            } else {
                dests.order().get(position - 1).copied()
            };
        }
    }
    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let order = dests.order();
        let start = match self.last.and_then(|l| dests.position(l)) {
            Some(p) => p + 1,
            None => 0,
        };
        for k in 0..order.len() {
            let id = order[(start + k) % order.len()];
            let d = dests.get(id)?;
            if d.weight > 0 && !d.is_overloaded() {
                self.last = Some(id);
                return Some(id);
            }
        }
        None
    }
}

pub struct Mem {
    conns: Vec<ConnSlot>,
    services: Vec<Option<Service<TestRr>>>,
    dests: Vec<Dest>,
    stats: Vec<Stats>,
    order: Vec<DestId>,
    fixed: Box<lvs_core::director::DirectorFixed>,
}

impl Mem {
    pub fn new(conns: usize) -> Self {
        let proto = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        Mem {
            conns: vec![ConnSlot::EMPTY; conns],
            services: (0..8).map(|_| None).collect(),
            dests: vec![proto; 32],
            stats: vec![Stats::default(); 32],
            order: vec![DestId(0); 32],
            fixed: Box::default(),
        }
    }
    pub fn borrow(&mut self) -> DirectorMemory<'_, TestRr> {
        DirectorMemory {
            conns: &mut self.conns,
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.stats,
            order: &mut self.order,
            fixed: &mut self.fixed,
        }
    }
}
