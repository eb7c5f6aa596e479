// agentx_parse: lvsd's AgentX (RFC 2741) PDU parser on arbitrary bytes, PDU after PDU as lvsd
// reads its session with snmpd.
//
// A parsed PDU never claims more bytes than given nor fewer than its header; the Response lvsd
// would send to it parses back with the same session, transaction and packet ids; an MIB
// answer to any search ranges is bounded; nothing panics.

#[allow(dead_code)]
mod agentx {
    include!("../../examples/lvsd/agentx.rs");
}

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let mut buf = data;
    for _ in 0..64 {
        let Ok(Some((h, pdu, n))) = agentx::parse(buf) else {
            return;
        };
        assert!(n >= 20 && n <= buf.len(), "a PDU takes its header and at most the input");
        let vars: Vec<(agentx::Oid, agentx::Value)> = match &pdu {
            agentx::Pdu::Get(r) | agentx::Pdu::GetNext(r) | agentx::Pdu::GetBulk(_, _, r) => r
                .iter()
                .take(8)
                .map(|r| (r.start.clone(), agentx::Value::EndOfMibView))
                .collect(),
            _ => Vec::new(),
        };
        let reply = agentx::response(&h, 0, 0, &vars);
        match agentx::parse(&reply) {
            Ok(Some((h2, agentx::Pdu::Response(0, 0), m))) => {
                assert_eq!(m, reply.len());
                assert_eq!(
                    (h2.session, h2.transaction, h2.packet),
                    (h.session, h.transaction, h.packet)
                );
            }
            other => panic!("our own Response does not parse back: {other:?}"),
        }
        buf = &buf[n..];
    }
}
