// sync_decode: the IPVS sync-message decoder (`lvs_core::sync`) on arbitrary bytes.
//
// Each input is decoded as a datagram as received, then again with its header's `size` patched
// to the input length (so most inputs get past the message checks), and as a lone version-1
// record. Every record that decodes must re-encode and parse to the same value, a message
// rebuilt from the decoded records must decode to the same list, and the decoder must never
// yield more records than the bytes can hold.

use lvs_core::sync::{
    ConnRecord, SyncConn, SyncError, SyncMessage, SyncMessageBuilder, SyncRecords, SyncVersion,
    HEADER_LEN, MAX_MESSAGE_LEN, RECORD_V4_LEN, V0_HEADER_LEN, V0_RECORD_LEN,
};

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    check_message(data);
    if data.len() >= V0_HEADER_LEN && data.len() <= MAX_MESSAGE_LEN {
        let mut patched = data.to_vec();
        patched[2..4].copy_from_slice(&(data.len() as u16).to_be_bytes());
        check_message(&patched);
    }
    if let Ok(conn) = SyncConn::parse(&ConnRecord::new_unchecked(data)) {
        check_reencode(&conn);
    }
    if let Ok(conn) = SyncConn::parse_v0(data) {
        check_reencode(&conn);
    }
}

fn check_reencode(conn: &SyncConn) {
    let mut buf = [0u8; 512];
    let n = match conn.emit(&mut buf) {
        Ok(n) => n,
        Err(e) => panic!("a parsed record failed to emit: {e}"),
    };
    assert_eq!(n, conn.buffer_len());
    let back = SyncConn::parse(&ConnRecord::new_checked(&buf[..n]).expect("emitted framing"))
        .expect("emitted record parses");
    assert_eq!(&back, conn);
}

fn check_message(bytes: &[u8]) {
    let Ok(records) = SyncRecords::new(bytes) else {
        return;
    };
    let msg = SyncMessage::new_checked(bytes).expect("SyncRecords::new accepted it");
    let (hdr, min_rec) = match msg.version() {
        SyncVersion::V1 => (HEADER_LEN, RECORD_V4_LEN),
        SyncVersion::V0 => (V0_HEADER_LEN, V0_RECORD_LEN),
    };
    let items: Vec<Result<SyncConn, SyncError>> = records.collect();
    assert!(items.len() <= usize::from(msg.nr_conns()));
    let mut framed = 0usize;
    for (i, item) in items.iter().enumerate() {
        match item {
            Err(e) if e.is_fatal() => assert_eq!(i + 1, items.len(), "decoding went on after {e}"),
            Err(_) => framed += 1,
            Ok(conn) => {
                framed += 1;
                assert_eq!(conn.validate(), Ok(()));
                check_reencode(conn);
            }
        }
    }
    assert!(framed * min_rec <= bytes.len() - hdr);

    // Rebuild the decoded records into version-1 messages and decode them again.
    let oks: Vec<SyncConn> = items.iter().filter_map(|r| r.ok()).collect();
    let mut again = Vec::with_capacity(oks.len());
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut i = 0;
    while i < oks.len() {
        let mut b = SyncMessageBuilder::new(&mut buf, msg.syncid(), MAX_MESSAGE_LEN)
            .expect("room for a header");
        while i < oks.len() && b.push(&oks[i]).is_ok() {
            i += 1;
        }
        assert!(!b.is_empty());
        let n = b.finish();
        for r in SyncRecords::new(&buf[..n]).expect("built message is well-formed") {
            again.push(r.expect("built record decodes"));
        }
    }
    assert_eq!(again, oks);
}
