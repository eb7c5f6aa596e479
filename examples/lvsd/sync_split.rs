//! Connection sync with many workers, on a backup: a received sync message holds connections of
//! every shard, and each connection must go to the shard the fanout program steers its client
//! to ([`crate::fanout::steer_client`] of the client's address and port, or address alone, as
//! `--steer` says: [`crate::steering`]; modulo the workers). The lead,
//! which owns the sync socket, splits each message into one message per shard (same sync ID,
//! the records re-encoded as version 1) and passes the others' on ([`crate::workers`]).

use crate::fanout::steer_client;
use crate::steering::Steering;
use lvs_core::sync::{SyncConn, SyncMessageBuilder, SyncRecords};
use lvs_core::IpAddr;

/// The largest message a split writes (a UDP datagram's payload).
const MAX_LEN: usize = 65_507;

/// The worker that owns connections of client `addr`:`port` among `n` under `steering`.
pub fn shard_of(addr: IpAddr, port: u16, n: usize, steering: Steering) -> usize {
    steer_client(addr, port, steering) as usize % n.max(1)
}

/// Splits sync message `bytes` over `n` shards steered by `steering`: `(shard, message)` pairs,
/// at most one per shard
/// with records (more when a re-encoded part does not fit). `None` when the message is
/// malformed, a record is fatally bad or the sync ID byte is missing: the lead then applies
/// the message whole, which counts it as its own backup would.
pub fn split(bytes: &[u8], n: usize, steering: Steering) -> Option<Vec<(usize, Vec<u8>)>> {
    let syncid = *bytes.get(1)?;
    let records = SyncRecords::new(bytes).ok()?;
    let mut conns: Vec<Vec<SyncConn>> = vec![Vec::new(); n.max(1)];
    for r in records {
        match r {
            Ok(c) => conns[shard_of(c.caddr, c.cport, n, steering)].push(c),
            Err(e) if e.is_fatal() => return None,
            Err(_) => {} // skipped, as the backup skips it
        }
    }
    let mut buf = vec![0u8; MAX_LEN];
    let mut out = Vec::new();
    for (k, list) in conns.iter().enumerate() {
        let mut rest = list.as_slice();
        while !rest.is_empty() {
            let mut b = SyncMessageBuilder::new(&mut buf, syncid, MAX_LEN).ok()?;
            let fitted = rest.iter().take_while(|c| b.push(c).is_ok()).count();
            if fitted == 0 {
                return None; // a record that fits no message
            }
            let len = b.finish();
            rest = &rest[fitted..];
            out.push((k, buf[..len].to_vec()));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::addr::{Endpoint, Protocol};
    use lvs_core::sync::default_max_len;
    use lvs_core::AddrFamily;

    /// Parts of a split: (shard, message).
    type Parts = Vec<(usize, Vec<u8>)>;

    /// A sync message of 20 connections from 3 clients (ports vary), split over 2 shards: the
    /// connections, the parts, the whole message.
    fn split_clients(steering: Steering) -> (Vec<SyncConn>, Parts, Vec<u8>) {
        let mut buf = [0u8; 1500];
        let mut b = SyncMessageBuilder::new(&mut buf, 9, default_max_len(AddrFamily::Ipv4))
            .expect("builder");
        let mut sent = Vec::new();
        for i in 0..20u16 {
            let c = SyncConn::new(
                Protocol::Tcp,
                Endpoint::v4([198, 18, 0, 2 + (i % 3) as u8], 40_000 + i * 7),
                Endpoint::v4([198, 18, 2, 10], 80),
                Endpoint::v4([198, 18, 1, 2], 80),
            );
            b.push(&c).expect("room");
            sent.push(c);
        }
        let len = b.finish();
        let parts = split(&buf[..len], 2, steering).expect("well-formed");
        (sent, parts, buf[..len].to_vec())
    }

    #[test]
    fn each_connection_goes_to_its_clients_shard() {
        for steering in [Steering::Flow, Steering::ADDR] {
            let (sent, parts, whole) = split_clients(steering);
            let mut got = 0;
            let mut shards = [0; 2];
            let mut client_shard = std::collections::HashMap::new();
            for (k, m) in &parts {
                assert_eq!(m[1], 9, "the sync ID is kept");
                for c in SyncRecords::new(m).expect("a message") {
                    let c = c.expect("a record");
                    assert_eq!(shard_of(c.caddr, c.cport, 2, steering), *k);
                    assert!(sent.contains(&c));
                    got += 1;
                    shards[*k] += 1;
                    // under addr every connection of a client is in one shard
                    let first = *client_shard.entry(c.caddr).or_insert(*k);
                    if steering != Steering::Flow {
                        assert_eq!(first, *k, "{steering:?}: {c:?}");
                    }
                }
            }
            assert_eq!(got, 20);
            // the three clients' addresses (198.18.0.2-4) hash to both shards either way
            assert!(shards[0] > 0 && shards[1] > 0, "{steering:?}: {shards:?}");
            assert!(split(&whole[..3], 2, steering).is_none());
            assert_eq!(split(&whole, 1, steering).expect("one shard").len(), 1);
        }
    }
}
