//! The per-flow table the replay writes as CSV: one row per (flow, real server, verdict), in
//! the order first seen, with packets and IP bytes.
//!
//! A flow is named from the client's side whichever way the packet went: `client` is the
//! client's address and port, `vip` the virtual service's (a NAT reply from a real server is
//! counted under the flow it answers).

use std::collections::HashMap;
use std::io::{self, Write};

use lvs_core::{Endpoint, Protocol};

/// One row's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRow {
    /// Transport protocol.
    pub proto: Protocol,
    /// Client address and port.
    pub client: Endpoint,
    /// Virtual service address and port (the packet's destination for dropped packets).
    pub vip: Endpoint,
    /// The real server, when one was involved.
    pub real: Option<Endpoint>,
    /// What happened: `to-real`, `to-client`, `icmp-error`, `local` or `drop:<cause>`.
    pub verdict: &'static str,
}

/// Packets and IP bytes of a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Packets.
    pub packets: u64,
    /// IP bytes (header included, link layer excluded).
    pub bytes: u64,
}

/// The rows, in first-seen order.
#[derive(Debug, Default)]
pub struct Flows {
    rows: Vec<(FlowRow, Tally)>,
    index: HashMap<FlowRow, usize>,
}

/// The CSV header line.
pub const CSV_HEADER: &str = "proto,client,vip,real_server,verdict,packets,bytes";

impl Flows {
    /// Counts a packet of `bytes` IP bytes under `row`.
    pub fn count(&mut self, row: FlowRow, bytes: u64) {
        let i = match self.index.get(&row) {
            Some(&i) => i,
            None => {
                self.rows.push((row.clone(), Tally::default()));
                self.index.insert(row, self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        let t = &mut self.rows[i].1;
        t.packets += 1;
        t.bytes += bytes;
    }

    /// Distinct flows (client, VIP and protocol), whatever their rows.
    pub fn flow_count(&self) -> usize {
        let mut seen: Vec<_> = self
            .rows
            .iter()
            .map(|(r, _)| (r.proto, r.client, r.vip))
            .collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    /// Writes the CSV: [`CSV_HEADER`], then one line per row (fields never need quoting:
    /// addresses, numbers and fixed words; an absent real server is an empty field).
    ///
    /// # Errors
    /// The writer's.
    pub fn write_csv<W: Write>(&self, w: &mut W) -> io::Result<()> {
        writeln!(w, "{CSV_HEADER}")?;
        for (r, t) in &self.rows {
            let real = r.real.map(|e| e.to_string()).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                r.proto, r.client, r.vip, real, r.verdict, t.packets, t.bytes
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rows_add_up_in_first_seen_order() {
        let mut f = Flows::default();
        let c = Endpoint::v4([198, 19, 0, 2], 40000);
        let v = Endpoint::v4([198, 18, 0, 10], 80);
        let r = Some(Endpoint::v4([198, 18, 0, 11], 80));
        let row = |verdict| FlowRow {
            proto: Protocol::Tcp,
            client: c,
            vip: v,
            real: r,
            verdict,
        };
        f.count(row("to-real"), 60);
        f.count(row("to-client"), 100);
        f.count(row("to-real"), 52);
        let mut out = Vec::new();
        f.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{CSV_HEADER}\nTCP,198.19.0.2:40000,198.18.0.10:80,198.18.0.11:80,to-real,2,112\n\
                 TCP,198.19.0.2:40000,198.18.0.10:80,198.18.0.11:80,to-client,1,100\n"
            )
        );
        assert_eq!(f.flow_count(), 1);
    }
}
