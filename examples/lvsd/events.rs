//! `GET /api/v1/events`: Server-Sent Events for the status page and anyone else who wants
//! live updates instead of polling.
//!
//! Events (each `event: NAME` and one `data:` line of JSON):
//! - `status`: the [`crate::mgmt::Snapshot`], once a second while anyone listens, and right
//!   after every change;
//! - `change`: `{"method","path","who","status"}` after every write the API accepted (never a
//!   body, so never a secret).
//!
//! Each stream has its own thread and a bounded queue: a slow reader loses events, never
//! stalls the server; at most [`MAX_STREAMS`] streams are open (503 past that). A comment
//! line every 15 s finds readers that went away.

use crate::mgmt::Client;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most event streams open at once.
pub const MAX_STREAMS: usize = 32;
const QUEUE: usize = 64;
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Where events are published and streams subscribe.
#[derive(Debug, Default)]
pub struct Hub {
    subs: Mutex<Vec<SyncSender<Arc<str>>>>,
}

impl Hub {
    /// Sends `event` with `data` (one line of JSON) to every stream.
    pub fn publish(&self, event: &str, data: &str) {
        let msg: Arc<str> = format!("event: {event}\ndata: {data}\n\n").into();
        if let Ok(mut subs) = self.subs.lock() {
            subs.retain(|s| !matches!(s.try_send(msg.clone()), Err(TrySendError::Disconnected(_))));
        }
    }

    /// A new stream's queue, unless [`MAX_STREAMS`] are open.
    pub fn subscribe(&self) -> Option<Receiver<Arc<str>>> {
        let mut subs = self.subs.lock().ok()?;
        subs.retain(|s| {
            !matches!(
                s.try_send(": hello\n\n".into()),
                Err(TrySendError::Disconnected(_))
            )
        });
        if subs.len() >= MAX_STREAMS {
            return None;
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        subs.push(tx);
        Some(rx)
    }

    /// Streams open.
    pub fn streams(&self) -> usize {
        self.subs.lock().map_or(0, |s| s.len())
    }

    /// Publishes a fresh snapshot as a `status` event.
    pub fn publish_status(&self, client: &Client) {
        if let Ok(s) = client.snapshot() {
            if let Ok(j) = serde_json::to_string(&s) {
                self.publish("status", &j);
            }
        }
    }
}

/// Writes the response head and then every event of `rx` to `w` until the reader goes away
/// (on a thread of its own).
pub fn stream(mut w: Box<dyn Write + Send>, rx: Receiver<Arc<str>>) {
    let _ = std::thread::Builder::new()
        .name("lvsd-sse".into())
        .spawn(move || {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
                        Connection: close\r\n\r\nretry: 2000\n\n";
            if w.write_all(head.as_bytes())
                .and_then(|()| w.flush())
                .is_err()
            {
                return;
            }
            loop {
                let msg: Arc<str> = match rx.recv_timeout(KEEPALIVE) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => ": keepalive\n\n".into(),
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                if w.write_all(msg.as_bytes())
                    .and_then(|()| w.flush())
                    .is_err()
                {
                    return;
                }
            }
        });
}

/// Starts the thread that publishes a `status` event every second while a stream is open.
///
/// # Errors
/// The thread cannot be started.
pub fn spawn_ticker(client: Client, hub: Arc<Hub>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("lvsd-events".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if hub.streams() > 0 {
                hub.publish_status(&client);
            }
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hub_bounds_and_drops_gone_streams() {
        let hub = Hub::default();
        let rx = hub.subscribe().unwrap();
        let gone = hub.subscribe().unwrap();
        drop(gone);
        hub.publish("change", "{}");
        assert_eq!(hub.streams(), 1);
        assert_eq!(&*rx.try_recv().unwrap(), ": hello\n\n");
        assert_eq!(&*rx.try_recv().unwrap(), "event: change\ndata: {}\n\n");
        // a reader that never reads loses events, the publisher never blocks
        for _ in 0..QUEUE * 2 {
            hub.publish("change", "{}");
        }
        let mut keep = vec![rx];
        while let Some(r) = hub.subscribe() {
            keep.push(r);
        }
        assert_eq!(hub.streams(), MAX_STREAMS);
    }
}
