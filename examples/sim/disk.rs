//! The post-response disk phase of a Perl CGI: one disk per real server, served first come
//! first served.
//!
//! The bulletin board's Perl CGI writes files when a message is posted: the POST appends the
//! message to the board file, rewrites its index and writes its log (the board list and the
//! form only read, and are not given a disk phase). This model assumes that those writes,
//! and the flush that makes them durable, finish *after* the response has left and the
//! connection is closed: the CGI child (and, with `tail_holds_httpd`, its httpd parent, which
//! waits for the child before it takes the next connection) stays resident in uninterruptible
//! disk wait. The director already counts the connection as inactive, so weighted least
//! connections cannot see this memory; a load report can (free memory, and the `b` column of
//! vmstat). The disk serves one write at a time, so under load a queue builds on one server
//! and its memory stays there for as long as the queue takes to drain.

use std::collections::VecDeque;

/// One real server's disk: the CGIs waiting for it, the one being served first.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    /// Requests (indices into the simulator's request table) in arrival order; the front one
    /// is in service while `busy`.
    queue: VecDeque<u32>,
    busy: bool,
}

impl Disk {
    /// Queues request `r`. Returns true when the disk was idle, i.e. the caller must start
    /// serving `r` now.
    pub(crate) fn enqueue(&mut self, r: u32) -> bool {
        self.queue.push_back(r);
        if self.busy {
            false
        } else {
            self.busy = true;
            true
        }
    }

    /// The request in service finished: returns it and the next one to serve, if any.
    pub(crate) fn finish(&mut self) -> (Option<u32>, Option<u32>) {
        let done = self.queue.pop_front();
        let next = self.queue.front().copied();
        self.busy = next.is_some();
        (done, next)
    }

    /// CGIs in disk wait (in service or queued): uninterruptible processes.
    pub(crate) fn waiting(&self) -> u32 {
        self.queue.len() as u32
    }
}
