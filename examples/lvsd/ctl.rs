//! The control plane on the running daemon: `lvsd ctl` commands (ipvsadm's verbs and
//! lvsd's own), `status`, rule reloads, and the control socket's client.

use crate::config::mac_str;
use crate::control::{self, Command, ListOpts};
use crate::daemon::{ms_instant, Daemon};
use crate::rules;
use crate::syncd::SyncLink;
use lvs_core::ipvsadm::ListMode;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

impl Daemon<'_> {
    /// Re-reads the rules file (and the registry's clusters for this director,
    /// [`crate::registry_apply`]) and applies what changed.
    ///
    /// # Errors
    /// The file's rejected lines (nothing is applied then), or the director's refusal.
    pub fn reload(&mut self) -> Result<rules::Changes, String> {
        let reg = self
            .opts
            .registry
            .as_deref()
            .zip(self.registry_director.as_deref());
        let set = crate::registry_apply::desired(&self.opts.rules, reg)?;
        crate::steering::check_set(self.workers_count(), self.workers_steering(), &set)?;
        let now = ms_instant(self.now_ms());
        let r = rules::sync(&mut self.dir, &set, self.seed, now).map_err(|e| e.to_string());
        self.refresh_vips();
        r
    }

    /// Runs one control command: (success, output).
    pub fn control(&mut self, line: &str) -> (bool, String) {
        let (code, out) = self.control_exit(line);
        (code == control::exit::OK, out)
    }

    /// Runs one control command: (ipvsadm's exit code for it, output).
    pub fn control_exit(&mut self, line: &str) -> control::Exit {
        use control::exit;
        let now = self.now_ms();
        let cmd = match control::parse_command(line) {
            Ok(c) => c,
            Err(e) => return (exit::USAGE, format!("{e}\n")),
        };
        if let Command::List(o) = &cmd {
            // with --persistent-conn of every service, the TLS engines' entries too
            return self.list_all(o);
        }
        let (ok, out) = self.control_cmd(cmd, now);
        (if ok { exit::OK } else { exit::REFUSED }, out)
    }

    pub(crate) fn control_cmd(&mut self, cmd: Command<'_>, now: u64) -> (bool, String) {
        match cmd {
            Command::Rule(r) => {
                let seed = self.seed ^ now;
                let steering = self.workers_steering();
                let checked = crate::steering::check_rule(self.workers_count(), steering, &r);
                match checked.and_then(|()| rules::apply_rule(&mut self.dir, &r, seed)) {
                    Ok(()) => {
                        if self.opts.verbose {
                            self.log(&format!("control: {r}"));
                        }
                        self.refresh_vips();
                        (true, String::new())
                    }
                    Err(e) => (false, format!("{e}\n")),
                }
            }
            Command::List(o) => {
                let (code, out) = self.list_all(&o);
                (code == control::exit::OK, out)
            }
            Command::Timeout => (true, control::timeouts(&self.dir)),
            Command::SetTimeout([tcp, fin, udp]) => {
                let mut c = *self.dir.config();
                c.timeouts.set(tcp, fin, udp);
                self.dir.set_config(c);
                (true, String::new())
            }
            Command::Save => (true, control::save(&self.dir)),
            Command::Zero => {
                self.dir.zero_stats(ms_instant(now));
                self.workers_zero();
                (true, String::new())
            }
            Command::Reload => match self.reload() {
                Ok(ch) => (true, format!("{ch}\n")),
                Err(e) => (false, format!("{e}\n")),
            },
            Command::Status => (true, self.status()),
            Command::Announce => {
                let a = self.announce();
                let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                (true, format!("announced {}\n", list.join(" ")))
            }
            Command::Daemon => (
                true,
                self.sync
                    .as_ref()
                    .map(SyncLink::daemon_listing)
                    .unwrap_or_default(),
            ),
            Command::Neigh => {
                let mut out = String::new();
                for (i, ip, mac, age) in self.neigh.entries(now) {
                    let m = mac.map_or("INCOMPLETE".to_string(), |m| mac_str(&m));
                    out.push_str(&format!(
                        "{} {} {} {}ms\n",
                        self.ifaces[i].info.name, ip, m, age
                    ));
                }
                (true, out)
            }
            Command::Sysctl(None) => {
                let c = self.dir.config();
                let mut out = String::new();
                for (n, _) in crate::config::SYSCTLS {
                    control::kv(&mut out, n, crate::config::sysctl_value(c, n));
                }
                (true, out)
            }
            Command::Sysctl(Some((name, v))) => {
                let mut c = *self.dir.config();
                crate::config::apply_sysctl(&mut c, &name, v);
                self.dir.set_config(c);
                (true, String::new())
            }
        }
    }

    /// `status`: lvsd's and the director's counters, one `name value` per line. With other
    /// workers (`--workers N`), every shard's: each additive counter summed over the shards,
    /// the lines that are not additive (states, configuration) the lead's, then `workers N`,
    /// `workers.view_timeouts` and every shard's own lines as `worker<k>.<name>`, worker 0's
    /// included ([`crate::status_merge`]). With one worker, the shard's lines as they are.
    pub fn status(&self) -> String {
        self.workers_status(self.shard_status())
    }

    /// This shard's `status` lines.
    pub(crate) fn shard_status(&self) -> String {
        let mut out = String::new();
        let mut named = self.counters.clone();
        self.hot.merge_into(&mut named);
        for (k, v) in &named {
            control::kv(&mut out, k, v);
        }
        let c = self.dir.counters();
        control::kv(&mut out, "director.refused_full", c.refused_full);
        control::kv(&mut out, "director.no_destination", c.no_destination);
        control::kv(&mut out, "director.dest_unavailable", c.dest_unavailable);
        control::kv(&mut out, "director.expired", c.expired);
        control::kv(&mut out, "director.rescheduled", c.rescheduled);
        control::kv(&mut out, "director.sloppy_scheduled", c.sloppy_scheduled);
        control::kv(&mut out, "director.connections", self.dir.table().len());
        control::kv(&mut out, "neigh.dropped", self.neigh.dropped);
        self.l7_status(&mut out);
        self.tls_status(&mut out);
        self.vrrp_status(&mut out);
        self.agents_status(&mut out);
        if let Some(l) = &self.sync {
            let s = c.sync;
            for (k, v) in [
                ("director.sync.queued", s.queued),
                ("director.sync.queue_full", s.queue_full),
                ("director.sync.messages_sent", s.messages_sent),
                ("director.sync.records_sent", s.records_sent),
                ("director.sync.stale", s.stale),
                ("director.sync.applied", s.applied),
                ("director.sync.rejected", s.rejected),
                ("director.sync.malformed", s.malformed),
                ("director.sync.ignored", s.ignored),
                ("director.sync.unbound", s.unbound),
                ("director.sync.superseded", s.superseded),
                ("director.sync.table_full", s.table_full),
                ("sync.rx_datagrams", l.counters.rx_datagrams),
                ("sync.rx_errors", l.counters.rx_errors),
                ("sync.rx_own", l.counters.rx_own),
                ("sync.tx_messages", l.counters.tx_messages),
                ("sync.tx_errors", l.counters.tx_errors),
            ] {
                control::kv(&mut out, k, v);
            }
        }
        out
    }

    /// The `--stats` listing (every shard's, [`crate::views`]).
    pub fn stats_listing(&self) -> String {
        let o = ListOpts {
            mode: ListMode::Stats { exact: false },
            ..ListOpts::default()
        };
        self.list_all(&o).1
    }

    pub(crate) fn serve_control(&mut self, mut s: UnixStream) {
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let mut line = Vec::new();
        let mut b = [0u8; 4096];
        while line.len() < 65536 && !line.contains(&b'\n') {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&b[..n]),
            }
        }
        let text = String::from_utf8_lossy(&line);
        let cmd = text.lines().next().unwrap_or("").trim().to_string();
        let (code, out) = self.control_exit(&cmd);
        let _ = s.write_all(format!("{code}\n").as_bytes());
        let _ = s.write_all(out.as_bytes());
    }
}

/// `lvsd ctl SOCKET COMMAND...`: sends the command, prints the answer; the exit code is the
/// one ipvsadm exits with for the same command (0 success, 1 `-L` of a missing service, 2 a
/// command line it rejects, 255 a change the director refused), or 2 when lvsd cannot be
/// reached.
pub fn ctl(socket: &str, command: &str) -> u8 {
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lvsd ctl: {socket}: {e}");
            return 2;
        }
    };
    if s.write_all(format!("{command}\n").as_bytes()).is_err() {
        eprintln!("lvsd ctl: write failed");
        return 2;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    if s.read_to_string(&mut out).is_err() {
        eprintln!("lvsd ctl: read failed");
        return 2;
    }
    let (status, body) = out
        .split_once('\n')
        .unwrap_or(("2", "lvsd ctl: no answer\n"));
    let code = status.parse::<u8>().unwrap_or(2);
    if code == 0 {
        print!("{body}");
    } else {
        // the message alone, as ipvsadm prints it
        eprint!("{body}");
    }
    code
}
