//! `ipvsadm -L -n` listings of the director's services and connections.

use super::*;

impl<S: Scheduler> Director<'_, S> {
    /// Writes `ipvsadm -L -n` (with `--stats`, `--rate`, ... per `mode`) for every service, in
    /// slot order, real servers in list order.
    pub fn write_list<W: fmt::Write + ?Sized>(
        &self,
        w: &mut W,
        mode: crate::ipvsadm::ListMode,
    ) -> fmt::Result {
        use crate::ipvsadm::{write_list, DestRow, ListHeader, ServiceRow};
        let header = ListHeader::new(self.table.capacity() as u32);
        let rows = self.services().map(|(id, s)| {
            let set = self.dests(id);
            let stats = &*self.dest_stats;
            let dests = set.iter().map(move |(did, d)| {
                let mut r = DestRow::from_dest(d);
                if let Some(st) = stats.get(did.index()) {
                    r.counters = st.counters;
                    r.rates = st.rates();
                }
                r
            });
            let mut row = ServiceRow::new(&s.config, s.sched.name(), dests);
            row.flags = s.sched.sched_flags();
            row.counters = s.stats.counters;
            row.rates = s.stats.rates();
            row
        });
        write_list(w, &header, rows, mode)
    }

    /// Writes `ipvsadm -L -n -c`: every connection and template with its time left.
    pub fn write_conns<W: fmt::Write + ?Sized>(&self, w: &mut W, now: Instant) -> fmt::Result {
        self.write_conns_mode(w, now, false)
    }

    /// [`Director::write_conns`], or with `persistent_conn` as `ipvsadm -L -n -c
    /// --persistent-conn` prints it (see [`crate::ipvsadm::write_conns_mode`]).
    pub fn write_conns_mode<W: fmt::Write + ?Sized>(
        &self,
        w: &mut W,
        now: Instant,
        persistent_conn: bool,
    ) -> fmt::Result {
        use crate::ipvsadm::{write_conns_mode, ConnRow};
        let rows = self.table.iter().map(|(_, e)| {
            let state = match e.proto() {
                // templates have their own states (`ip_vs_ctpl_state_name_table`)
                _ if e.is_template() && e.state() & TPL_ASSURED != 0 => "ASSURED",
                _ if e.is_template() => "NONE",
                Protocol::Tcp => TcpState::from_u8(e.state()).map_or("ERR!", |s| s.name()),
                Protocol::Udp => "UDP",
                _ => "NONE",
            };
            // a fwmark template stores the mark where the address goes, as the kernel does
            let virt = e.vaddr();
            ConnRow {
                proto: e.proto(),
                expire: e.expires_in(now, self.entry_timeout(e)),
                state,
                client: e.client(),
                virt,
                dest: self.entry_daddr(e).unwrap_or(virt),
            }
        });
        write_conns_mode(w, rows, persistent_conn)
    }
}
